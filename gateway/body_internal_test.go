package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadBodyBoundary: a body of exactly the limit is read whole, declared or not; one
// byte more is refused.
func TestReadBodyBoundary(t *testing.T) {
	const limit = 4096
	for _, n := range []int{0, 1, 511, 512, 513, 2048, limit - 1, limit, limit + 1, 3 * limit} {
		for _, declared := range []bool{false, true} {
			body := bytes.Repeat([]byte{'x'}, n)
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			if !declared {
				r.ContentLength = -1
			}
			got, berr := readBody(httptest.NewRecorder(), r, limit)
			switch {
			case n > limit:
				if berr == nil || berr.status != http.StatusRequestEntityTooLarge {
					t.Errorf("n=%d declared=%v: %v, want 413", n, declared, berr)
				}
			case berr != nil:
				t.Errorf("n=%d declared=%v: %v", n, declared, berr)
			case !bytes.Equal(got, body):
				t.Errorf("n=%d declared=%v: read %d bytes", n, declared, len(got))
			}
		}
	}
}

// errReader fails after its data.
type errReader struct{ data []byte }

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadBodyError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", &errReader{data: []byte("abc")})
	r.ContentLength = -1
	if _, berr := readBody(httptest.NewRecorder(), r, 1024); berr == nil || berr.status != http.StatusBadRequest {
		t.Errorf("%v, want 400", berr)
	}
}
