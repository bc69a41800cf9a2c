package client

import "context"

// invoke is Call with the service path and method apart, for the XClient. sent reports
// whether the request may have reached the server: false only when it was certainly not
// written (send found the connection unusable, or the writer had already failed).
func (c *Client) invokeDirect(ctx context.Context, path, method string, args, reply any) (err error, sent bool) {
	call := callPool.Get().(*Call)
	call.ServicePath, call.ServiceMethod, call.Args, call.Reply = path, method, args, reply
	call.resMD, _ = ctx.Value(responseMetadataKey{}).(*map[string]string)
	c.send(ctx, call, false)
	if ctx.Done() == nil {
		<-call.Done
		err, sent = call.Error, !call.unsent
		c.recycle(call)
		return err, sent
	}
	select {
	case <-call.Done:
	case <-ctx.Done():
		if c.forget(call) {
			err = ctx.Err()
			c.recycle(call)
			return err, true
		}
		<-call.Done
	}
	err, sent = ctxErrAfter(ctx, call.Error), !call.unsent
	c.recycle(call)
	return err, sent
}
