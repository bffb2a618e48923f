package rpc

import (
	"context"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/shard"
)

// Router implements fabric.Copies for a whole cluster: copies on this node
// are called in-process through fabric.LocalCopies, copies on other nodes
// over gRPC through a Client.
type Router struct {
	local  fabric.LocalCopies
	remote *Client
}

var _ fabric.Copies = (*Router)(nil)

// NewRouter returns a Router for the node called self, whose copies are in
// store, reaching other nodes through remote.
func NewRouter(self string, store *shard.Store, remote *Client) *Router {
	return &Router{local: fabric.LocalCopies{Self: self, Store: store}, remote: remote}
}

// Copy implements fabric.Copies.
func (r *Router) Copy(ctx context.Context, node, name string) (fabric.Copy, error) {
	if node == r.local.Self {
		return r.local.Copy(ctx, node, name)
	}
	return r.remote.Copy(ctx, node, name)
}

// Handle implements fabric.Copies.
func (r *Router) Handle(ctx context.Context, node, name string) (fabric.Copy, error) {
	if node == r.local.Self {
		return r.local.Handle(ctx, node, name)
	}
	return r.remote.Handle(ctx, node, name)
}

// Create implements fabric.Copies.
func (r *Router) Create(ctx context.Context, node, name string, props []byte) error {
	if node == r.local.Self {
		return r.local.Create(ctx, node, name, props)
	}
	return r.remote.Create(ctx, node, name, props)
}

// Delete implements fabric.Copies.
func (r *Router) Delete(ctx context.Context, node, name string) error {
	if node == r.local.Self {
		return r.local.Delete(ctx, node, name)
	}
	return r.remote.Delete(ctx, node, name)
}
