package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

// CallRequest is the body of POST /api/call.
type CallRequest struct {
	// Method is "Service.Method".
	Method string `json:"method"`
	// Args is the JSON argument (default {}).
	Args json.RawMessage `json:"args,omitempty"`
	// Metadata is sent with the call.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// CallReply is the answer of a successful POST /api/call.
type CallReply struct {
	Reply     json.RawMessage   `json:"reply"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	ElapsedMS float64           `json:"elapsed_ms"`
}

// call makes one call through Server.Invoke with the JSON codec. Answers: 200 CallReply;
// 400 bad JSON or method name; 403 a cross-site request or WithoutCalls; 404 unknown
// service or method; 413 body too large; 415 not JSON; 401, 503, 504 and 500 (the
// service's error) as the HTTP gateway; each error an errorBody.
func (h *handler) call(w http.ResponseWriter, r *http.Request) {
	if h.noCalls {
		writeError(w, http.StatusForbidden, "forbidden", "dashboard: calls are disabled (WithoutCalls)")
		return
	}
	// A page on another site can POST here (a form, or fetch without CORS), which would
	// make calls with the operator's network access: refuse what browsers mark
	// cross-site, and anything but JSON, which a cross-site form cannot send.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		writeError(w, http.StatusForbidden, "forbidden", "dashboard: cross-site call refused")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media", "dashboard: the call must be sent as application/json")
		return
	}
	var req CallRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("more than one JSON value in the body")
		}
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				"dashboard: the body is larger than "+formatBytes(mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "dashboard: bad call request: "+err.Error())
		return
	}
	dot := strings.LastIndexByte(req.Method, '.')
	if dot <= 0 || dot == len(req.Method)-1 {
		writeError(w, http.StatusBadRequest, "bad_request", `dashboard: method must be "Service.Method", got `+quote(req.Method))
		return
	}
	if strings.HasPrefix(req.Method, reservedPrefix) {
		writeError(w, http.StatusBadRequest, "bad_request", "dashboard: brisk's built-in services ("+reservedPrefix+"*) cannot be called from here")
		return
	}
	args := bytes.TrimSpace(req.Args)
	if len(args) == 0 {
		args = []byte("{}")
	}

	msg := protocol.NewMessage()
	msg.SetSerializeType(protocol.JSON)
	msg.ServicePath, msg.ServiceMethod = req.Method[:dot], req.Method[dot+1:]
	msg.Metadata = make(map[string]string, len(req.Metadata)+1)
	for k, v := range req.Metadata {
		msg.Metadata[k] = v
	}
	if _, ok := msg.Metadata[protocol.AuthKey]; !ok && h.authToken != "" {
		msg.Metadata[protocol.AuthKey] = h.authToken
	}
	msg.Payload = args

	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ctx = gateway.WithRemoteAddr(ctx, net.TCPAddrFromAddrPort(ap))
	}
	start := time.Now()
	resp, err := h.s.Invoke(ctx, msg)
	elapsed := time.Since(start)
	switch {
	case err != nil:
		status, kind := invokeFailure(err)
		writeError(w, status, kind, err.Error())
		return
	case resp == nil:
		writeError(w, http.StatusBadGateway, "transport", "dashboard: the server gave no answer")
		return
	case resp.MessageStatusType() == protocol.Error:
		text := resp.Metadata[protocol.ServiceError]
		status, kind := serviceFailure(ctx, text)
		writeError(w, status, kind, text)
		return
	case resp.SerializeType() != protocol.JSON:
		writeError(w, http.StatusBadGateway, "transport", "dashboard: the reply is "+resp.SerializeType().String()+", not JSON")
		return
	}
	reply := bytes.TrimSpace(resp.Payload)
	if len(reply) == 0 {
		reply = []byte("null")
	} else if !json.Valid(reply) {
		writeError(w, http.StatusBadGateway, "transport", "dashboard: the reply is not valid JSON")
		return
	}
	md := resp.Metadata
	delete(md, protocol.ServiceError)
	if len(md) == 0 {
		md = nil
	}
	writeJSON(w, http.StatusOK, CallReply{Reply: reply, Metadata: md, ElapsedMS: millis(elapsed)})
}

// invokeFailure classifies an error of Server.Invoke.
func invokeFailure(err error) (int, string) {
	switch {
	case errors.Is(err, gateway.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, gateway.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusBadGateway, "transport"
}

// serviceFailure classifies the error text of a response.
func serviceFailure(ctx context.Context, text string) (int, string) {
	switch {
	case protocol.IsNotFoundText(text):
		return http.StatusNotFound, "not_found"
	case protocol.IsRefusalText(text):
		return http.StatusServiceUnavailable, "unavailable"
	case strings.HasPrefix(text, "brisk: bad arguments"):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	}
	return http.StatusInternalServerError, "service"
}

func formatBytes(n int64) string { return strconv.FormatInt(n, 10) + " bytes" }

func quote(s string) string { return strconv.Quote(s) }
