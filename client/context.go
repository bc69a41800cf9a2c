package client

import "context"

type requestMetadataKey struct{}
type responseMetadataKey struct{}

// WithMetadata returns a context whose calls send md as request metadata, added to the
// metadata ctx already carries (md's values win). The maps are read when each call is sent
// and never modified, so one map may serve concurrent calls.
func WithMetadata(ctx context.Context, md map[string]string) context.Context {
	if prev := RequestMetadata(ctx); len(prev) > 0 && len(md) > 0 {
		merged := make(map[string]string, len(prev)+len(md))
		for k, v := range prev {
			merged[k] = v
		}
		for k, v := range md {
			merged[k] = v
		}
		md = merged
	} else if len(md) == 0 {
		return ctx
	}
	return context.WithValue(ctx, requestMetadataKey{}, md)
}

// RequestMetadata returns the metadata calls made with ctx send (see WithMetadata), or nil.
// Treat it as read-only.
func RequestMetadata(ctx context.Context) map[string]string {
	md, _ := ctx.Value(requestMetadataKey{}).(map[string]string)
	return md
}

// WithResponseMetadata returns a context whose calls store the response metadata in *md
// (a new map per call, nil when the response had none). Use one pointer per call.
func WithResponseMetadata(ctx context.Context, md *map[string]string) context.Context {
	return context.WithValue(ctx, responseMetadataKey{}, md)
}
