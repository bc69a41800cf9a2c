package client

import "context"

// invokeDirect is Call with the service path and method apart, below the middleware. sent
// reports whether the request may have reached the server: false only when it was
// certainly not written (send found the connection unusable, or the writer had already
// failed).
func (c *Client) invokeDirect(ctx context.Context, path, method string, args, reply any) (err error, sent bool) {
	call := callPool.Get().(*Call)
	call.ServicePath, call.ServiceMethod, call.Args, call.Reply = path, method, args, reply
	call.resMD, _ = ctx.Value(responseMetadataKey{}).(*map[string]string)
	c.send(ctx, call, false)
	err, sent = c.wait(ctx, call)
	c.recycle(call)
	return err, sent
}

// wait waits for a sent call to end, or for ctx to end first, and returns the call's error
// and whether its request may have reached the server. A call still pending when ctx ends
// is forgotten and fails with ctx's error; one that failed after ctx ended fails with ctx's
// error too (ctxErrAfter). Call (invokeDirect) and Invoke (invokeRaw) both wait here.
func (c *Client) wait(ctx context.Context, call *Call) (err error, sent bool) {
	if ctx.Done() == nil {
		<-call.Done
		return call.Error, !call.unsent
	}
	select {
	case <-call.Done:
	case <-ctx.Done():
		if c.forget(call) {
			return ctx.Err(), true
		}
		<-call.Done
	}
	return ctxErrAfter(ctx, call.Error), !call.unsent
}
