package rpc

import (
	"fmt"
	"testing"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
)

// BenchmarkUpdate1000 writes batches of 1000 new documents (~100-byte
// bodies) to a copy in-process and over gRPC on loopback; the difference is
// the RPC's cost. Each batch is one group commit with one fsync.
func BenchmarkUpdate1000(b *testing.B) {
	body := []byte(`{"type":"order","customer":"c-0001","items":[{"sku":"a-1","qty":2},{"sku":"b-7","qty":1}],"total":42.5}`)
	for _, mode := range []string{"local", "grpc"} {
		b.Run(mode, func(b *testing.B) {
			// A fresh store per mode, so both write into the same state.
			n2 := startNode(b, "n2")
			mustCreate(b, n2.store, "s")
			var c fabric.Copy
			var err error
			if mode == "local" {
				c, err = fabric.LocalCopies{Self: "n2", Store: n2.store}.Copy(b.Context(), "n2", "s")
			} else {
				c, err = newClient(b, newResolver(n2)).Copy(b.Context(), "n2", "s")
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			batch := 0
			for b.Loop() {
				docs := make([]*couch.Doc, 1000)
				for i := range docs {
					docs[i] = &couch.Doc{ID: fmt.Sprintf("b%06d-%04d", batch, i), Body: body}
				}
				batch++
				res, err := c.Update(b.Context(), docs, couch.UpdateOptions{NewEdits: true})
				if err != nil {
					b.Fatal(err)
				}
				if res[999].Err != nil {
					b.Fatal(res[999].Err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
