package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// Attachment data is stored once per digest per shard, in chunks so that
// no badger value exceeds blobChunk bytes:
//
//	01 <handle:4> 'a' <digest> <chunk:4 BE>   stored (possibly gzipped) bytes
//
// Blobs are shared by every revision that references the digest and are
// never rewritten; reclaiming unreferenced blobs is compaction's job.
const (
	tagAtt    = 'a'
	blobChunk = 1 << 20
)

func (k keys) blob(digest string, chunk uint32) []byte {
	b := k.tagged(tagAtt, len(digest)+4)
	b = append(b, digest...)
	return binary.BigEndian.AppendUint32(b, chunk)
}

func (k keys) blobPrefix(digest string) []byte {
	return append(k.tagged(tagAtt, len(digest)), digest...)
}

// putBlob stores data under digest unless it is already there.
func (sh *Shard) putBlob(bt *batchTxn, digest string, data []byte) error {
	if _, err := bt.txn.Get(sh.keys.blob(digest, 0)); err == nil {
		return nil
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	for i := uint32(0); ; i++ {
		n := min(len(data), blobChunk)
		if err := bt.set(sh.keys.blob(digest, i), data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// AttachmentData returns the stored bytes of the blob with this digest.
func (sh *Shard) AttachmentData(ctx context.Context, digest string) ([]byte, error) {
	var out []byte
	err := sh.db.View(func(txn *badger.Txn) error {
		prefix := sh.keys.blobPrefix(digest)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 4})
		defer it.Close()
		found := false
		for it.Seek(prefix); it.Valid(); it.Next() {
			if len(it.Item().Key()) != len(prefix)+4 {
				continue // a longer digest sharing this prefix
			}
			found = true
			if err := it.Item().Value(func(v []byte) error {
				out = append(out, v...)
				return nil
			}); err != nil {
				return err
			}
		}
		if !found {
			return couch.Errorf(couch.CodeNotFound, "Document is missing attachment")
		}
		return nil
	})
	return out, err
}

// resolveAtts turns a write's attachments into the new revision's stored
// metadata: stubs take the metadata of the same name from the closest
// stored ancestor, new data is written as blobs with revpos = newPos (or
// the replicated revpos for new_edits=false).
func (sh *Shard) resolveAtts(bt *batchTxn, d *couch.Doc, ancestors []couch.Rev, newPos int, newEdits bool) ([]couch.Attachment, error) {
	if len(d.Atts) == 0 {
		return nil, nil
	}
	var prev []couch.Attachment
	prevLoaded := false
	loadPrev := func() error {
		if prevLoaded {
			return nil
		}
		prevLoaded = true
		for _, rev := range ancestors {
			r, err := sh.readRev(bt.txn, d.ID, rev)
			if err != nil {
				return err
			}
			if !r.Missing {
				prev = r.Atts
				return nil
			}
		}
		return nil
	}
	out := make([]couch.Attachment, 0, len(d.Atts))
	for _, a := range d.Atts {
		if a.Stub {
			if err := loadPrev(); err != nil {
				return nil, err
			}
			if !prevLoaded || len(ancestors) == 0 {
				return nil, couch.Errorf(couch.CodeMissingStub, "Previous revision missing for document %s", d.ID)
			}
			var found *couch.Attachment
			for i := range prev {
				if prev[i].Name == a.Name {
					found = &prev[i]
					break
				}
			}
			if found == nil || (a.RevPos != 0 && a.RevPos != found.RevPos) {
				return nil, couch.Errorf(couch.CodeMissingStub, "Invalid attachment stub in %s for %s", d.ID, a.Name)
			}
			out = append(out, *found)
			continue
		}
		if a.Follows || a.Data == nil && a.Length > 0 {
			return nil, couch.Errorf(couch.CodeBadRequest, "Attachment %s has no data", a.Name)
		}
		if err := sh.putBlob(bt, a.Digest, a.Data); err != nil {
			return nil, fmt.Errorf("store attachment %s of %s: %w", a.Name, d.ID, err)
		}
		meta := a
		meta.Data = nil
		if newEdits || meta.RevPos == 0 {
			meta.RevPos = newPos
		}
		out = append(out, meta)
	}
	return out, nil
}

// attDigests lists what a revision id covers of its attachments: name,
// content type and digest of each, in name order.
func attDigests(atts []couch.Attachment) []string {
	if len(atts) == 0 {
		return nil
	}
	out := make([]string, 0, 3*len(atts))
	for _, a := range atts {
		out = append(out, a.Name, a.ContentType, a.Digest)
	}
	return out
}
