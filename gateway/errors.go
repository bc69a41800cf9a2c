package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/protocol"
)

// ErrUnavailable is wrapped by errors an Invoker returns when no server can take the call
// now: none is known, every one is excluded, or the server is shutting down. The gateway
// answers those with 503 (HTTP invoke) or CodeUnavailable (JSON-RPC). A *client.XClient's
// ErrNoServer, ErrNoAvailableServer and ErrShutdown wrap it.
var ErrUnavailable = errors.New("service unavailable")

// JSON-RPC error codes: the spec's, and the implementation-defined server errors
// (-32000 to -32099) the gateway uses for what an Invoker reports.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// CodeUnauthorized: the Invoker refused the caller (ErrUnauthorized).
	CodeUnauthorized = -32001
	// CodeUnavailable: no server could take the call (ErrUnavailable, shutting down).
	CodeUnavailable = -32002
	// CodeTimeout: the call's deadline passed (WithTimeout).
	CodeTimeout = -32003
)

// failureKind says how a failed call is reported.
type failureKind int

const (
	kindService      failureKind = iota // the service answered with an error
	kindNotFound                        // unknown service or method
	kindBadArgs                         // the arguments could not be decoded
	kindUnauthorized                    // ErrUnauthorized
	kindUnavailable                     // ErrUnavailable, shutting down
	kindTimeout                         // context.DeadlineExceeded
	kindTransport                       // any other Invoker error
)

// classifyErr classifies an error an Invoker returned.
func classifyErr(err error) failureKind {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return kindUnauthorized
	case errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, ErrUnavailable) || err.Error() == protocol.TextShuttingDown:
		return kindUnavailable
	}
	return kindTransport
}

// classifyServiceError classifies the text of a response with status Error. brisk and
// rpcx servers name unknown services and methods, and undecodable arguments, in their
// texts; nothing else on the wire tells them apart.
func classifyServiceError(text string) failureKind {
	switch {
	case text == protocol.TextShuttingDown:
		return kindUnavailable
	case protocol.IsNotFoundText(text):
		return kindNotFound
	case strings.HasPrefix(text, "brisk: bad arguments"):
		return kindBadArgs
	}
	return kindService
}

func (k failureKind) httpStatus() int {
	switch k {
	case kindUnauthorized:
		return http.StatusUnauthorized
	case kindUnavailable:
		return http.StatusServiceUnavailable
	case kindTimeout:
		return http.StatusGatewayTimeout
	case kindTransport:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError // service errors, as rpcx
}

func (k failureKind) jsonrpcCode() int {
	switch k {
	case kindNotFound:
		return CodeMethodNotFound
	case kindBadArgs:
		return CodeInvalidParams
	case kindUnauthorized:
		return CodeUnauthorized
	case kindUnavailable:
		return CodeUnavailable
	case kindTimeout:
		return CodeTimeout
	}
	return CodeInternalError
}

// serviceErrorText returns the error text of a response with status Error.
func serviceErrorText(resp *protocol.Message) string {
	if t := resp.Metadata[protocol.ServiceError]; t != "" {
		return t
	}
	return "brisk: server reported an error without a message"
}

// invoke calls the Invoker, bounded by the configured timeout.
func (h *handler) invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if h.inv == nil {
		return nil, fmt.Errorf("brisk/gateway: no invoker: %w", ErrUnavailable)
	}
	if h.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.timeout)
		defer cancel()
	}
	oneway := req.IsOneway() && !req.IsHeartbeat()
	resp, err := h.inv.Invoke(ctx, req)
	switch {
	case err == nil && resp == nil && !oneway:
		err = errors.New("brisk/gateway: the invoker returned neither a response nor an error")
	case (err != nil || resp != nil && resp.MessageStatusType() == protocol.Error) && pastDeadline(ctx):
		// The call failed after its deadline: most likely because of it (a handler that
		// gave up says so in its own words). Report the timeout.
		return nil, context.DeadlineExceeded
	}
	return resp, err
}

// pastDeadline reports whether ctx's deadline has passed, even if its timer has not fired
// yet (timers may fire late; the server's copy of the deadline may have fired first).
func pastDeadline(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// bodyError is a request body the gateway refuses, with its HTTP status.
type bodyError struct {
	status int
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

// readBody reads r's body, at most limit bytes after decompression, through
// http.MaxBytesReader (which also makes net/http close the connection after a body that
// was too large).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *bodyError) {
	tooLarge := &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("brisk/gateway: request body larger than %d bytes", limit)}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, &bodyError{http.StatusUnsupportedMediaType, "brisk/gateway: unsupported Content-Encoding " + quoteHeader(enc)}
	}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := readLimited(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, &bodyError{http.StatusBadRequest, "brisk/gateway: reading the request body: " + err.Error()}
	}
	if !gz {
		return body, nil
	}
	out, err := protocol.Decompress(nil, body, int(min(limit, int64(protocol.DefaultMaxMessageSize))))
	if err != nil {
		if errors.Is(err, protocol.ErrDecompressedTooLarge) {
			return nil, tooLarge
		}
		return nil, &bodyError{http.StatusBadRequest, "brisk/gateway: bad gzip body: " + err.Error()}
	}
	return out, nil
}

// readLimited reads r to its end into a buffer sized by the declared length, or grown by
// doubling but never past limit+1 bytes (enough to see the limit passed), so a body costs
// at most about twice the limit in allocations whatever it claims.
func readLimited(r io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared >= 0 {
		size = declared + 1 // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			next := max(2*int64(cap(buf)), 512)
			if next >= limit {
				next = limit + 1 // the last step: no copy of a buffer of about the limit
			}
			if next <= int64(cap(buf)) {
				next = int64(cap(buf)) + 512 // past the limit: r is about to say so
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maxHeaderText bounds an error text sent in a header.
const maxHeaderText = 4 << 10

// headerText makes s safe and short enough for a header value: control characters become
// spaces and the text is cut at maxHeaderText bytes (on a rune boundary).
func headerText(s string) string {
	if len(s) > maxHeaderText {
		cut := maxHeaderText
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// quoteHeader quotes a header value for an error text.
func quoteHeader(v string) string {
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("%q", v)
}
