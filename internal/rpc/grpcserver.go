package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	pb "github.com/divandb/divan/proto/internalv1"
)

// MaxMessageSize bounds one gRPC message either way. Update calls are split
// below it by the Client; streams send much smaller batches.
const MaxMessageSize = 64 << 20

// Transport settings for both ends of a connection. An Update carries a
// range's share of a _bulk_docs request (hundreds of KB): gRPC's 32 KB
// buffers cost a write and a read system call every 32 KB, and its
// initial 64 KB flow-control window, grown only as its bandwidth estimate
// catches up, holds a sender to a few frames per round trip. Fixed windows
// large enough for a whole Update and 256 KB buffers: cluster _bulk_docs
// at c=32 +4% through one node, +5% through all three (five A/B rounds). A window is a bound, not an allocation:
// memory is held only by data sent and not yet read.
const (
	transportBufferSize = 256 << 10
	streamWindow        = 8 << 20
	connWindow          = 32 << 20
)

// NewGRPCServer builds the node's gRPC server: the internal codec
// (codec.go); interceptors that put the request id in the context, log
// every call at debug level and turn a handler panic into codes.Internal;
// message size limits; keepalive settings matching the Client's. extra
// options are appended (tests add interceptors; ChainUnaryInterceptor and
// ChainStreamInterceptor accumulate). Register services on it, then Serve
// a listener.
func NewGRPCServer(logger *slog.Logger, extra ...grpc.ServerOption) *grpc.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "rpc")
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(requestIDUnary, logUnary(logger), recoverUnary(logger)),
		grpc.ChainStreamInterceptor(requestIDStream, logStream(logger), recoverStream(logger)),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveTime / 2,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WriteBufferSize(transportBufferSize),
		grpc.ReadBufferSize(transportBufferSize),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
	}
	return grpc.NewServer(append(opts, extra...)...)
}

// GracefulStop stops g gracefully, and forcibly once ctx ends. Close the
// Server first so that watch streams do not hold the graceful stop up.
func GracefulStop(ctx context.Context, g *grpc.Server) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop()
		<-done
	}
}

// headered is every request message of the ShardService.
type headered interface {
	GetHeader() *pb.RequestHeader
}

type shardKey struct{}

// withHeader puts a request header's id (a new one when it has none) and
// shard name in ctx.
func withHeader(ctx context.Context, h *pb.RequestHeader) context.Context {
	id := h.GetRequestId()
	if id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return context.WithValue(WithRequestID(ctx, id), shardKey{}, h.GetShard())
}

func shardOf(ctx context.Context) string {
	s, _ := ctx.Value(shardKey{}).(string)
	return s
}

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if h, ok := req.(headered); ok {
		ctx = withHeader(ctx, h.GetHeader())
	}
	return handler(ctx, req)
}

// headerStream gives a server stream the context of its request's header,
// once the handler has received the request.
type headerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *headerStream) Context() context.Context { return s.ctx }

func (s *headerStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if h, ok := m.(headered); ok && err == nil {
		s.ctx = withHeader(s.ctx, h.GetHeader())
	}
	return err
}

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &headerStream{ServerStream: ss, ctx: ss.Context()})
}

func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	log.DebugContext(ctx, "rpc served",
		"method", method, "shard", shardOf(ctx), "req_id", RequestID(ctx),
		"code", status.Code(err).String(), "duration", time.Since(start))
}

func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

func logStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

func panicError(ctx context.Context, log *slog.Logger, method string, r any) error {
	log.ErrorContext(ctx, "rpc handler panicked", "method", method, "req_id", RequestID(ctx),
		"panic", r, "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "rpc: %s panicked: %v", method, r)
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = nil, panicError(ctx, log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(ss.Context(), log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}
