package rpc

import "context"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the client request it serves
// (X-Couch-Request-ID). The Client sends it with every call, and the Server
// puts it in the context of the handler and of its log lines.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id WithRequestID stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
