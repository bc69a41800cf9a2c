package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/internal/wire"
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
// A service error is a response with status Error and a nil error. A oneway request
// (not a heartbeat) returns a nil response once written; a heartbeat returns the echo.
// Errors are those of Call: a *TransportError, ErrShutdown, ErrNotConnected or the
// context's error.
func (c *Client) Invoke(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	if req == nil {
		return nil, errors.New("brisk: Invoke with a nil request")
	}
	resp, err, _ := c.invokeRaw(ctx, req, req.ServicePath)
	return resp, err
}

// invokeRaw is Invoke with the service path given apart (the XClient's); sent reports
// whether the request may have reached the server.
func (c *Client) invokeRaw(ctx context.Context, req *protocol.Message, path string) (resp *protocol.Message, err error, sent bool) {
	if err := ctx.Err(); err != nil {
		return nil, err, false
	}
	call := &Call{ServicePath: path, ServiceMethod: req.ServiceMethod, Done: make(chan *Call, 1), raw: true}
	c.sendRaw(ctx, call, req)
	if ctx.Done() != nil {
		select {
		case <-call.Done:
		case <-ctx.Done():
			if c.forget(call) {
				return nil, ctx.Err(), true
			}
			<-call.Done
		}
	} else {
		<-call.Done
	}
	if call.Error != nil {
		if ctx.Done() != nil {
			return nil, ctxErrAfter(ctx, call.Error), !call.unsent
		}
		return nil, call.Error, !call.unsent
	}
	if call.rawResp != nil {
		call.rawResp.SetSeq(req.Seq())
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

	c.mu.Lock()
	err := c.unusableLocked()
	if err == nil && !oneway {
		err = ctx.Err()
	}
	if err != nil {
		c.mu.Unlock()
		call.Error = err
		call.unsent = true
		call.done()
		return
	}
	seq := c.seq
	c.seq++
	call.seq = seq
	if !oneway {
		c.pending[seq] = call
	}
	w := c.w
	c.mu.Unlock()

	m.SetSeq(seq)
	if err := w.WriteMessage(m); err != nil {
		if oneway || c.forget(call) {
			call.Error = &TransportError{Op: "write", Err: err}
			call.unsent = errors.Is(err, wire.ErrNotWritten)
			call.done()
		}
		return
	}
	if oneway {
		call.done()
	}
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
		ms := max(int64((time.Until(deadline)+time.Millisecond-1)/time.Millisecond), 1)
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
		return nil, errors.New("brisk: Invoke with a nil request")
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
		resp, err = x.invokeBackup(ctx, req)
	} else {
		resp, err = x.invokeRetrying(ctx, req)
	}
	if err != nil && (errors.Is(err, ErrNoServer) || errors.Is(err, ErrNoAvailableServer) || errors.Is(err, ErrShutdown)) {
		err = unavailableError{err}
	}
	return resp, err
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

// invokeRetrying is Call's loop for a raw request.
func (x *XClient) invokeRetrying(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	x.budget.deposit()
	info := SelectInfo{Ctx: ctx, ServicePath: x.servicePath, ServiceMethod: req.ServiceMethod, Args: req.Payload}
	idempotent := x.idempotent[req.ServiceMethod]
	retries := x.opt.Retries
	if x.failMode == Failfast {
		retries = 0
	}
	var excludedBuf [4]*endpointState
	excluded := excludedBuf[:0]
	var e *Endpoint
	var resp *protocol.Message
	var err error
	for attempt := 0; ; attempt++ {
		if e == nil || x.failMode != Failtry {
			var perr error
			e, perr = x.pick(info, excluded)
			if perr != nil {
				if err != nil {
					return nil, fmt.Errorf("%w (last error: %w)", perr, err)
				}
				if resp != nil {
					return resp, nil // the last answer was a shutting-down server's
				}
				return nil, perr
			}
		}
		var sent bool
		resp, err, sent = x.invokeOn(ctx, e, req)
		failure := err
		if failure == nil {
			failure = serviceErrorOf(resp)
		}
		if failure == nil || attempt >= retries || !retryable(ctx, failure, sent, idempotent) {
			return resp, err
		}
		if sent && !x.budget.withdraw() {
			return resp, err
		}
		if x.failMode == Failover {
			excluded = append(excluded, e.endpointState)
		}
		if !x.backoff(ctx, attempt) {
			return resp, err
		}
	}
}

// invokeOn is callOn for a raw request.
func (x *XClient) invokeOn(ctx context.Context, e *Endpoint, req *protocol.Message) (resp *protocol.Message, err error, sent bool) {
	e.inflight.Add(1)
	defer e.callEnded()
	c, err := e.conns.get(ctx, x, e)
	if err != nil {
		if ctx.Err() != nil {
			e.breaker.release()
			return nil, ctx.Err(), false
		}
		e.breaker.failure(time.Now().UnixNano())
		return nil, err, false
	}
	start := time.Now()
	resp, err, sent = c.invokeRaw(ctx, req, x.servicePath)
	elapsed := time.Since(start)
	switch {
	case err == nil && serviceErrorOf(resp) == nil:
		e.observe(elapsed)
		e.breaker.success()
	case err == nil:
		e.breaker.success() // the server answered
	case errors.Is(err, context.DeadlineExceeded):
		e.observe(elapsed)
		e.breaker.failure(time.Now().UnixNano())
	case errors.Is(err, context.Canceled):
		e.breaker.release()
	default:
		e.breaker.failure(time.Now().UnixNano())
	}
	return resp, err, sent
}

type rawResult struct {
	resp *protocol.Message
	err  error
}

// invokeBackup is callBackup for a raw request: the first answer (a reply or a service
// error) wins and the other attempt is cancelled.
func (x *XClient) invokeBackup(ctx context.Context, req *protocol.Message) (*protocol.Message, error) {
	info := SelectInfo{Ctx: ctx, ServicePath: x.servicePath, ServiceMethod: req.ServiceMethod, Args: req.Payload}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan rawResult, 2)
	var tried []*endpointState
	launch := func() error {
		e, err := x.pick(info, tried)
		if err != nil {
			return err
		}
		tried = append(tried, e.endpointState)
		go func() {
			resp, err, _ := x.invokeOn(ctx, e, req)
			results <- rawResult{resp, err}
		}()
		return nil
	}
	if err := launch(); err != nil {
		return nil, err
	}
	outstanding := 1
	timer := time.NewTimer(x.opt.BackupLatency)
	defer timer.Stop()
	var lastErr error
	backupSent := false
	for outstanding > 0 {
		select {
		case <-timer.C:
			if !backupSent {
				backupSent = true
				if launch() == nil {
					outstanding++
				}
			}
			continue
		case r := <-results:
			outstanding--
			if r.err == nil || ctx.Err() != nil {
				cancel()
				for ; outstanding > 0; outstanding-- {
					<-results
				}
				return r.resp, r.err
			}
			lastErr = r.err
			if !backupSent {
				backupSent = true
				if launch() == nil {
					outstanding++
				}
			}
		}
	}
	return nil, lastErr
}
