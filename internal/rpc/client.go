package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/divandb/divan/fabric"
	pb "github.com/divandb/divan/proto/internalv1"
)

// Keepalive: clients ping every keepaliveTime while they have calls open
// (watch streams are always open), so a dead peer is noticed within
// keepaliveTime+keepaliveTimeout; servers accept pings that often.
const (
	keepaliveTime    = 30 * time.Second
	keepaliveTimeout = 10 * time.Second
)

// Defaults of the client Options.
const (
	DefaultConnectTimeout = 2 * time.Second
	DefaultWatchIdle      = time.Minute
)

// Option configures a Client.
type Option func(*clientOptions)

type clientOptions struct {
	logger         *slog.Logger
	connectTimeout time.Duration
	watchIdle      time.Duration
	dialOpts       []grpc.DialOption
}

// WithLogger sets the Client's logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *clientOptions) { o.logger = l } }

// WithConnectTimeout bounds one attempt to connect to a node. A call to a
// node that cannot be reached fails with nodedown after at most this long
// (or when its ctx ends, if sooner); later calls fail at once until the
// connection is re-established in the background.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *clientOptions) { o.connectTimeout = d }
}

// WithWatchIdle sets how long a copy's watch stream stays open with nobody
// waiting on its Changed channel.
func WithWatchIdle(d time.Duration) Option { return func(o *clientOptions) { o.watchIdle = d } }

// WithDialOptions appends gRPC dial options to the Client's defaults (for
// transport credentials, or flow-control settings in tests).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *clientOptions) { o.dialOpts = append(o.dialOpts, opts...) }
}

// Client reaches the shard copies of other nodes over gRPC; it implements
// fabric.Copies for them. It keeps one connection per node, made on first
// use, and one watch stream per copy whose Changed channel is in use. It is
// safe for concurrent use; Close releases everything.
type Client struct {
	resolve func(node string) (string, error)
	opts    clientOptions
	log     *slog.Logger

	// ctx is the Client's own lifetime: watch goroutines run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[string]*nodeConn // by node name
	watches map[copyKey]*watcher
}

type nodeConn struct {
	addr string
	cc   *grpc.ClientConn
	svc  pb.ShardServiceClient
}

type copyKey struct{ node, name string }

var _ fabric.Copies = (*Client)(nil)

// NewClient returns a Client that finds a node's gRPC address with resolve
// (for instance from the cluster's membership). An error from resolve makes
// the node count as down. NewClient starts nothing.
func NewClient(resolve func(node string) (addr string, err error), opts ...Option) *Client {
	o := clientOptions{connectTimeout: DefaultConnectTimeout, watchIdle: DefaultWatchIdle}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		resolve: resolve, opts: o, log: o.logger.With("component", "rpc"),
		ctx: ctx, cancel: cancel,
		conns: map[string]*nodeConn{}, watches: map[copyKey]*watcher{},
	}
}

// Close stops the watch streams, wakes whoever waits on a Changed channel
// and closes every connection. Calls in flight fail. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	var errs []error
	for node, nc := range conns {
		if err := nc.cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", node, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Client) dialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(newCodec()),
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   3 * time.Second,
			},
			MinConnectTimeout: c.opts.connectTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WithWriteBufferSize(transportBufferSize),
		grpc.WithReadBufferSize(transportBufferSize),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	}
	return append(opts, c.opts.dialOpts...)
}

// service returns the ShardService of node, connecting lazily.
func (c *Client) service(node string) (pb.ShardServiceClient, error) {
	nc, err := c.conn(node)
	if err != nil {
		return nil, err
	}
	return nc.svc, nil
}

// conn returns the connection to node, connecting lazily. A node whose
// address changed gets a new connection.
func (c *Client) conn(node string) (*nodeConn, error) {
	addr, err := c.resolve(node)
	if err != nil {
		return nil, nodeDown(node, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	if nc, ok := c.conns[node]; ok {
		if nc.addr == addr {
			return nc, nil
		}
		// The node moved: calls still on the old connection fail.
		_ = nc.cc.Close()
		delete(c.conns, node)
	}
	cc, err := grpc.NewClient(addr, c.dialOptions()...)
	if err != nil {
		return nil, nodeDown(node, err)
	}
	nc := &nodeConn{addr: addr, cc: cc, svc: pb.NewShardServiceClient(cc)}
	c.conns[node] = nc
	return nc, nil
}

// wrapErr turns an RPC error into the error a local copy would return.
func (c *Client) wrapErr(ctx context.Context, node, method string, err error) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("rpc %s on %s: %w", method, node, ErrClientClosed)
	}
	return fromStatus(ctx, node, method, err)
}

// invoke runs a unary call on node.
func invoke[Req, Resp any](ctx context.Context, c *Client, node, method string,
	call func(pb.ShardServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req,
) (Resp, error) {
	var zero Resp
	svc, err := c.service(node)
	if err != nil {
		return zero, err
	}
	resp, err := call(svc, ctx, req)
	if err != nil {
		return zero, c.wrapErr(ctx, node, method, err)
	}
	return resp, nil
}

// invokeEncoded runs a unary call on node whose request is already encoded
// (codec passes an encodedMessage through).
func invokeEncoded[Resp any](ctx context.Context, c *Client, node, method, fullMethod string, req []byte) (*Resp, error) {
	nc, err := c.conn(node)
	if err != nil {
		return nil, err
	}
	resp := new(Resp)
	if err := nc.cc.Invoke(ctx, fullMethod, encodedMessage(req), resp); err != nil {
		return nil, c.wrapErr(ctx, node, method, err)
	}
	return resp, nil
}

func header(ctx context.Context, name string) *pb.RequestHeader {
	return &pb.RequestHeader{RequestId: RequestID(ctx), Shard: name}
}

// Copy implements fabric.Copies: it checks the copy exists on node and
// returns a handle on it.
func (c *Client) Copy(ctx context.Context, node, name string) (fabric.Copy, error) {
	rc, err := c.Dial(ctx, node, name)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// Handle implements fabric.Copies: a handle on a copy of node without the
// OpenCopy call, so its UUID is empty and its Changed starts from no known
// state (it may fire at once). A missing copy or unreachable node fails
// its first call instead, with the same errors.
func (c *Client) Handle(ctx context.Context, node, name string) (fabric.Copy, error) {
	return &RemoteCopy{c: c, node: node, name: name}, nil
}

// Dial is Copy returning the concrete handle, which also serves changes
// feeds and internal replication (cluster.SyncCopy).
func (c *Client) Dial(ctx context.Context, node, name string) (*RemoteCopy, error) {
	resp, err := invoke(ctx, c, node, "OpenCopy", pb.ShardServiceClient.OpenCopy,
		&pb.OpenCopyRequest{Header: header(ctx, name)})
	if err != nil {
		return nil, fmt.Errorf("open copy %s on %s: %w", name, node, err)
	}
	return &RemoteCopy{
		c: c, node: node, name: name, uuid: resp.GetUuid(),
		base: seqs{update: resp.GetUpdateSeq(), purge: resp.GetPurgeSeq()},
	}, nil
}

// Create implements fabric.Copies.
func (c *Client) Create(ctx context.Context, node, name string, props []byte) error {
	_, err := invoke(ctx, c, node, "CreateCopy", pb.ShardServiceClient.CreateCopy,
		&pb.CreateCopyRequest{Header: header(ctx, name), Props: props})
	return err
}

// Delete implements fabric.Copies.
func (c *Client) Delete(ctx context.Context, node, name string) error {
	_, err := invoke(ctx, c, node, "DeleteCopy", pb.ShardServiceClient.DeleteCopy,
		&pb.DeleteCopyRequest{Header: header(ctx, name)})
	return err
}
