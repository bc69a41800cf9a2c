package client

import "context"

type requestMetadataKey struct{}
type responseMetadataKey struct{}

// WithMetadata returns a context whose calls send md as request metadata. The map is read
// when each call is sent and is never modified, so one map may serve concurrent calls.
func WithMetadata(ctx context.Context, md map[string]string) context.Context {
	return context.WithValue(ctx, requestMetadataKey{}, md)
}

// WithResponseMetadata returns a context whose calls store the response metadata in *md
// (a new map per call, nil when the response had none). Use one pointer per call.
func WithResponseMetadata(ctx context.Context, md *map[string]string) context.Context {
	return context.WithValue(ctx, responseMetadataKey{}, md)
}
