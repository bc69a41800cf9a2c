package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/brisk-rpc/brisk/protocol"
)

// serveInvoke answers an rpcx HTTP invoke request.
func (h *handler) serveInvoke(w http.ResponseWriter, r *http.Request) {
	wh := w.Header()
	rh := r.Header
	// Echo what identifies the call first, so every answer, errors included, carries it.
	for _, k := range [...]string{HeaderMessageID, HeaderServiceMethod, HeaderSerializeType, HeaderVersion} {
		if v := rh.Get(k); v != "" {
			wh.Set(k, v)
		}
	}
	path := rh.Get(HeaderServicePath)
	if path == "" {
		path = strings.TrimPrefix(r.URL.Path, "/")
	}
	if path != "" {
		wh.Set(HeaderServicePath, path)
	}

	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut:
	default:
		wh.Set("Allow", "GET, POST, PUT, OPTIONS")
		invokeFailed(w, http.StatusMethodNotAllowed, "brisk/gateway: method "+quoteHeader(r.Method)+" not allowed")
		return
	}

	req, msg := parseInvokeHeaders(rh, path)
	if msg != "" {
		invokeFailed(w, http.StatusBadRequest, msg)
		return
	}
	body, berr := readBody(w, r, h.cfg.maxBody)
	if berr != nil {
		invokeFailed(w, berr.status, berr.msg)
		return
	}
	req.Payload = body

	if req.IsHeartbeat() {
		// The gateway is the peer: answer as a server answers a heartbeat, echoing it.
		setContentType(wh, req.SerializeType())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}

	resp, err := h.invoke(r.Context(), req)
	if err != nil {
		invokeFailed(w, classifyErr(err).httpStatus(), err.Error())
		return
	}
	if resp == nil { // oneway: handed over
		w.WriteHeader(http.StatusOK)
		return
	}
	wh.Set(HeaderSerializeType, strconv.Itoa(int(resp.SerializeType())))
	status := http.StatusOK
	if resp.MessageStatusType() == protocol.Error {
		text := serviceErrorText(resp)
		status = classifyServiceError(text).httpStatus()
		if status != http.StatusServiceUnavailable {
			status = http.StatusInternalServerError // a service error, whatever its text, as rpcx
		}
		wh.Set(HeaderMessageStatusType, "Error")
		wh.Set(HeaderErrorMessage, headerText(text))
	}
	if meta := encodeMeta(resp.Metadata); meta != "" {
		wh.Set(HeaderMeta, meta)
	}
	if len(resp.Payload) > 0 {
		setContentType(wh, resp.SerializeType())
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Payload)
}

// parseInvokeHeaders builds the request the X-RPCX headers describe, or says what is
// wrong with them.
func parseInvokeHeaders(rh http.Header, path string) (*protocol.Message, string) {
	req := protocol.NewMessage()
	req.SetMessageType(protocol.Request)
	if v := rh.Get(HeaderMessageID); v != "" {
		id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, "brisk/gateway: " + HeaderMessageID + " " + quoteHeader(v) + " is not a decimal uint64"
		}
		req.SetSeq(id)
	}
	req.SetHeartbeat(flagHeader(rh.Get(HeaderHeartbeat)))
	req.SetOneway(flagHeader(rh.Get(HeaderOneway)))

	st := rh.Get(HeaderSerializeType)
	switch {
	case st != "":
		n, err := strconv.ParseUint(strings.TrimSpace(st), 10, 8)
		if err != nil || n > 15 {
			return nil, "brisk/gateway: " + HeaderSerializeType + " " + quoteHeader(st) + " is not a serialize type (decimal 0-15)"
		}
		req.SetSerializeType(protocol.SerializeType(n))
	case !req.IsHeartbeat():
		return nil, "brisk/gateway: missing " + HeaderSerializeType
	}

	md, err := requestMetadata(rh)
	if err != nil {
		return nil, "brisk/gateway: bad " + HeaderMeta + ": " + err.Error()
	}
	req.Metadata = md
	if req.IsHeartbeat() {
		return req, "" // a heartbeat names no service
	}
	req.ServicePath = path
	req.ServiceMethod = rh.Get(HeaderServiceMethod)
	switch {
	case req.ServiceMethod == "":
		return nil, "brisk/gateway: missing " + HeaderServiceMethod
	case req.ServicePath == "":
		return nil, "brisk/gateway: missing " + HeaderServicePath + " (or a URL path naming the service)"
	}
	return req, ""
}

// flagHeader reads a boolean header: set unless empty, "0" or "false".
func flagHeader(v string) bool {
	v = strings.TrimSpace(v)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// invokeFailed answers an HTTP invoke request with an error status and the error headers.
func invokeFailed(w http.ResponseWriter, status int, text string) {
	wh := w.Header()
	wh.Set(HeaderMessageStatusType, "Error")
	wh.Set(HeaderErrorMessage, headerText(text))
	w.WriteHeader(status)
}

// encodeMeta encodes response metadata as a URL query, leaving out the error text (sent
// in its own header).
func encodeMeta(md map[string]string) string {
	n := len(md)
	if _, ok := md[protocol.ServiceError]; ok {
		n--
	}
	if n <= 0 {
		return ""
	}
	values := make(url.Values, n)
	for k, v := range md {
		if k != protocol.ServiceError {
			values[k] = []string{v}
		}
	}
	return values.Encode()
}

// setContentType names the payload's media type by its serialize type.
func setContentType(wh http.Header, st protocol.SerializeType) {
	ct := "application/octet-stream"
	switch st {
	case protocol.JSON:
		ct = "application/json"
	case protocol.ProtoBuffer:
		ct = "application/x-protobuf"
	case protocol.MsgPack:
		ct = "application/msgpack"
	case protocol.Thrift:
		ct = "application/x-thrift"
	}
	wh.Set("Content-Type", ct)
	wh.Set("X-Content-Type-Options", "nosniff")
}
