package client

import (
	"context"
	"errors"
	"strconv"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

// Invoke sends req, a prebuilt request whose payload is already encoded with its serialize
// type (and compressed if its flags say so), and returns the server's response as it came:
// no codec is involved. It implements gateway.Invoker, so a single connection can stand
// behind an HTTP gateway.
//
// req is not modified and may be reused once Invoke returns. The request goes out with the
// client's own seq; the response carries req's seq, its payload decompressed (compress
// type None). Request metadata is req's, plus WithMetadata's pairs from ctx for keys req
// lacks, the client's AuthToken when req carries no __AUTH, and __ServerTimeout from ctx's
// deadline (kept from req when req's is shorter).
//
// A service error is a response with status Error and a nil error, unless ctx had ended
// when it came: then, as for Call, the error is ctx's. A oneway request
// (not a heartbeat) returns a nil response once written; a heartbeat returns the echo.
// Errors are those of Call: a *TransportError, ErrShutdown, ErrNotConnected or the
// context's error.
func (c *Client) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if req == nil {
		return nil, errNilRequest
	}
	resp, err, _ := c.invokeRaw(ctx, req, req.ServicePath)
	return resp, err
}

var errNilRequest = errors.New("brisk: Invoke with a nil request")

// invokeRaw is Invoke with the service path given apart (the XClient's); sent reports
// whether the request may have reached the server.
func (c *Client) invokeRaw(ctx context.Context, req *protocol.Message, path string) (resp *protocol.Message, err error, sent bool) {
	if err := ctx.Err(); err != nil {
		return nil, err, false
	}
	call := &Call{ServicePath: path, ServiceMethod: req.ServiceMethod, Done: make(chan *Call, 1), raw: true}
	c.sendRaw(ctx, call, req)
	if err, sent := c.wait(ctx, call); err != nil {
		return nil, err, sent
	}
	if resp := call.rawResp; resp != nil {
		if resp.MessageStatusType() == protocol.Error {
			// As for Call: an error the handler gave once the caller's deadline had
			// passed (its echo of __ServerTimeout) is the caller's timeout.
			if err := ctxEnded(ctx); err != nil {
				return nil, err, true
			}
		}
		resp.SetSeq(req.Seq())
	}
	return call.rawResp, nil, true
}

// sendRaw writes req's frame for call, registering call as pending unless req is oneway.
// On any failure the call ends with the error.
func (c *Client) sendRaw(ctx context.Context, call *Call, req *protocol.Message) {
	heartbeat := req.IsHeartbeat()
	oneway := req.IsOneway() && !heartbeat
	m := &protocol.Message{Header: req.Header, ServicePath: call.ServicePath, ServiceMethod: req.ServiceMethod, Payload: req.Payload}
	m.Header[0] = protocol.MagicNumber
	m.SetMessageType(protocol.Request)
	m.SetMessageStatusType(protocol.Normal)
	m.SetOneway(oneway)
	m.Metadata = c.rawMetadata(ctx, req.Metadata)
	c.write(ctx, call, m, oneway)
}

// rawMetadata returns the metadata an Invoke request is sent with: md itself when nothing
// is added, otherwise a new map (md is never modified).
func (c *Client) rawMetadata(ctx context.Context, md map[string]string) map[string]string {
	ctxMD, _ := ctx.Value(requestMetadataKey{}).(map[string]string)
	deadline, hasDeadline := ctx.Deadline()
	addAuth := c.opt.AuthToken != "" && md[protocol.AuthKey] == ""
	if len(ctxMD) == 0 && !hasDeadline && !addAuth {
		return md
	}
	out := make(map[string]string, len(md)+len(ctxMD)+2)
	for k, v := range ctxMD {
		out[k] = v
	}
	for k, v := range md {
		out[k] = v
	}
	if addAuth {
		out[protocol.AuthKey] = c.opt.AuthToken
	}
	if hasDeadline {
		ms := timeoutMillis(deadline)
		if cur, err := strconv.ParseInt(out[protocol.ServerTimeout], 10, 64); err != nil || cur <= 0 || cur > ms {
			out[protocol.ServerTimeout] = strconv.FormatInt(ms, 10)
		}
	}
	return out
}

// completeRaw ends an Invoke call with a copy of the response in msg (the read loop
// reuses msg). Decode has decompressed the payload already.
func completeRaw(call *Call, msg *protocol.Message) {
	resp := msg.Clone()
	resp.SetCompressType(protocol.None)
	call.rawResp = resp
	call.done()
}

// Invoke sends req, a prebuilt request whose payload is already encoded with its serialize
// type, to a server of the XClient's service chosen by the selector, retrying by the fail
// mode as Call does, and returns the raw response (see Client.Invoke). It implements
// gateway.Invoker, so an XClient can stand behind an HTTP gateway:
//
//	http.ListenAndServe(":8080", gateway.New(xclient))
//
// req.ServicePath must be the XClient's service or empty (meaning the XClient's); another
// service gets a response with status Error "brisk: can't find service ...", as a server
// answers, without a call. Selectors see the encoded payload ([]byte) as SelectInfo.Args.
// A response with status Error is a service error: it is returned with a nil error, and
// retried only when the server was shutting down, as Call does. Errors that mean no server
// could take the call (ErrNoServer, ErrNoAvailableServer, ErrShutdown) also wrap
// gateway.ErrUnavailable.
func (x *XClient) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if req == nil {
		return nil, errNilRequest
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.ServicePath != "" && req.ServicePath != x.servicePath {
		return unknownServiceResponse(req), nil
	}
	var resp *protocol.Message
	var err error
	if x.failMode == Failbackup && (!req.IsOneway() || req.IsHeartbeat()) {
		resp, err = backup(x, ctx, req.ServiceMethod, req.Payload,
			func(ctx context.Context, e *Endpoint, results chan<- backupResult[*protocol.Message]) {
				go func() {
					resp, err, _ := x.invokeOn(ctx, e, req)
					results <- backupResult[*protocol.Message]{resp, err}
				}()
			})
	} else {
		err = x.retrying(ctx, req.ServiceMethod, req.Payload, func(e *Endpoint) (err error, sent bool) {
			resp, err, sent = x.invokeOn(ctx, e, req)
			return err, sent
		})
	}
	if resp != nil {
		// The server answered: a service error travels in resp. (When no server could be
		// picked after a shutting-down server's answer, that answer is returned.)
		return resp, nil
	}
	if err != nil && (errors.Is(err, ErrNoServer) || errors.Is(err, ErrNoAvailableServer) || errors.Is(err, ErrShutdown)) {
		err = unavailableError{err}
	}
	return nil, err
}

// unavailableError marks an XClient error that means no server could take the call.
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, gateway.ErrUnavailable} }

// unknownServiceResponse answers a request for a service the XClient does not call.
func unknownServiceResponse(req *protocol.Message) *protocol.Message {
	if req.IsOneway() && !req.IsHeartbeat() {
		return nil
	}
	resp := &protocol.Message{Header: req.Header, ServicePath: req.ServicePath, ServiceMethod: req.ServiceMethod}
	resp.Header[0] = protocol.MagicNumber
	resp.SetMessageType(protocol.Response)
	resp.SetOneway(false)
	resp.SetCompressType(protocol.None)
	resp.SetMessageStatusType(protocol.Error)
	resp.Metadata = map[string]string{protocol.ServiceError: "brisk: can't find service " + req.ServicePath}
	return resp
}

// serviceErrorOf returns a response's service error, or nil.
func serviceErrorOf(resp *protocol.Message) error {
	if resp == nil || resp.MessageStatusType() != protocol.Error {
		return nil
	}
	return ServiceError(resp.Metadata[protocol.ServiceError])
}

// invokeOn makes one attempt of a raw request on e (see attemptOn). resp is the server's
// response; err is the attempt's error, or resp's service error.
func (x *XClient) invokeOn(ctx context.Context, e *Endpoint, req *protocol.Message) (resp *protocol.Message, err error, sent bool) {
	err, sent = x.attemptOn(ctx, e, true, func(c *Client) (err error, sent bool) {
		resp, err, sent = c.invokeRaw(ctx, req, x.servicePath)
		if err == nil {
			err = serviceErrorOf(resp)
		}
		return err, sent
	})
	return resp, err, sent
}
