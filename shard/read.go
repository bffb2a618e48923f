package shard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/divandb/divan/internal/couch"
)

// Open reads a document: its rev tree and the revisions opts asks for.
// A plain read of a missing or deleted document returns couch.ErrNotFound or
// couch.ErrDeleted; so does a read of a specific revision that is not stored.
// open_revs reads (OpenRevs, AllLeaves) mark absent revisions Missing instead.
func (sh *Shard) Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error) {
	var doc *couch.Document
	err := sh.db.View(func(txn *badger.Txn) error {
		var err error
		if couch.IsLocalID(id) {
			doc, err = sh.openLocal(txn, id)
			return err
		}
		doc, err = sh.openDoc(txn, id, opts)
		return err
	})
	return doc, err
}

func (sh *Shard) openDoc(txn *badger.Txn, id string, opts couch.OpenOptions) (*couch.Document, error) {
	di, _, err := sh.loadDocInfo(txn, id)
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", id, sh.name, err)
	}
	if di == nil || di.tree.Len() == 0 {
		if len(opts.OpenRevs) > 0 {
			doc := &couch.Document{ID: id, Tree: couch.NewRevTree()}
			for _, r := range opts.OpenRevs {
				doc.Revisions = append(doc.Revisions, couch.Revision{Rev: r, Missing: true})
			}
			return doc, nil
		}
		return nil, couch.ErrNotFound
	}
	doc := &couch.Document{ID: id, Seq: di.seq, Tree: di.tree}
	var want []couch.Rev
	switch {
	case opts.AllLeaves:
		for _, l := range di.tree.Leaves() {
			want = append(want, l.Rev)
		}
	case len(opts.OpenRevs) > 0:
		for _, r := range opts.OpenRevs {
			if opts.Latest && di.tree.Has(r) {
				for _, l := range di.tree.LeavesFrom(r) {
					want = append(want, l.Rev)
				}
				continue
			}
			want = append(want, r)
		}
	case !opts.Rev.IsZero():
		rev := opts.Rev
		if opts.Latest && di.tree.Has(rev) {
			if leaves := di.tree.LeavesFrom(rev); len(leaves) > 0 {
				rev = leaves[0].Rev
			}
		}
		r, err := sh.readRev(txn, id, rev)
		if err != nil {
			return nil, err
		}
		if r.Missing {
			return nil, couch.ErrNotFound
		}
		doc.Revisions = []couch.Revision{r}
		return doc, nil
	default:
		w, _ := di.tree.Winner()
		if w.Deleted {
			return nil, couch.ErrDeleted
		}
		r, err := sh.readRev(txn, id, w.Rev)
		if err != nil {
			return nil, err
		}
		if r.Missing {
			return nil, couch.ErrNotFound
		}
		doc.Revisions = []couch.Revision{r}
		return doc, nil
	}
	seen := make(map[couch.Rev]bool, len(want))
	for _, rev := range want {
		if seen[rev] {
			continue
		}
		seen[rev] = true
		r, err := sh.readRev(txn, id, rev)
		if err != nil {
			return nil, err
		}
		doc.Revisions = append(doc.Revisions, r)
	}
	return doc, nil
}

// readRev reads one revision's body; Missing when it is not stored.
func (sh *Shard) readRev(txn *badger.Txn, id string, rev couch.Rev) (couch.Revision, error) {
	r := couch.Revision{Rev: rev}
	item, err := txn.Get(sh.keys.body(id, rev))
	if errors.Is(err, badger.ErrKeyNotFound) {
		r.Missing = true
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read %s@%s in %s: %w", id, rev, sh.name, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return r, err
	}
	var atts []byte
	r.Deleted, atts, r.Body, err = decodeBody(item.UserMeta(), v)
	if err != nil {
		return r, err
	}
	r.Atts, err = couch.UnmarshalAttachments(atts)
	return r, err
}

func (sh *Shard) openLocal(txn *badger.Txn, id string) (*couch.Document, error) {
	d, found, err := sh.loadLocal(txn, id)
	if err != nil {
		return nil, err
	}
	if !found || d.Deleted {
		return nil, couch.ErrNotFound
	}
	return &couch.Document{ID: id, Revisions: []couch.Revision{{
		Rev:  couch.Rev{Pos: 0, ID: strconv.FormatUint(d.Rev, 10)},
		Body: d.Body,
	}}}, nil
}

// loadLocal reads the _local document id, or its tombstone.
func (sh *Shard) loadLocal(txn *badger.Txn, id string) (LocalDoc, bool, error) {
	item, err := txn.Get(sh.keys.local(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return LocalDoc{}, false, nil
	}
	if err != nil {
		return LocalDoc{}, false, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return LocalDoc{}, false, err
	}
	d, err := decodeLocal(id, item.UserMeta(), v)
	return d, err == nil, err
}

// A _local document's badger user-meta: metaDeleted marks a tombstone,
// metaLocalVersion a value that starts with the version stamp (values
// written before stamps existed have none: version 0, older than any
// stamped one). Values are uvarint stamp (when metaLocalVersion), uvarint
// N, then the body (none in a tombstone).
const metaLocalVersion = 2

func encodeLocal(d LocalDoc) (meta byte, v []byte) {
	v = make([]byte, 0, 2*binary.MaxVarintLen64+len(d.Body))
	if d.Version > 0 {
		meta |= metaLocalVersion
		v = binary.AppendUvarint(v, d.Version)
	}
	v = binary.AppendUvarint(v, d.Rev)
	if d.Deleted {
		return meta | metaDeleted, v
	}
	return meta, append(v, d.Body...)
}

func decodeLocal(id string, meta byte, v []byte) (LocalDoc, error) {
	d := LocalDoc{ID: id, Deleted: meta&metaDeleted != 0}
	if meta&metaLocalVersion != 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 {
			return LocalDoc{}, fmt.Errorf("shard: corrupt local doc %q", id)
		}
		d.Version, v = n, v[k:]
	}
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return LocalDoc{}, fmt.Errorf("shard: corrupt local doc %q", id)
	}
	d.Rev = n
	if !d.Deleted {
		d.Body = v[k:]
	}
	return d, nil
}

// LocalDoc is one _local document: its full id, its hidden version stamp
// (applyLocal), the N of its "0-N" revision and its body; or, Deleted, the
// tombstone a deletion left.
type LocalDoc struct {
	ID      string
	Version uint64
	Rev     uint64
	Deleted bool
	Body    []byte
}

// LocalOutranks reports whether _local document a replaces b: the later
// version stamp wins; at the same stamp (documents stored before stamps
// existed, or one write's copies) the higher N, then a live document over
// a tombstone, then the greater body, so copies pushing both ways agree.
func LocalOutranks(a, b LocalDoc) bool {
	switch {
	case a.Version != b.Version:
		return a.Version > b.Version
	case a.Rev != b.Rev:
		return a.Rev > b.Rev
	case a.Deleted != b.Deleted:
		return !a.Deleted
	default:
		return bytes.Compare(a.Body, b.Body) > 0
	}
}

// LocalDocs returns every _local document of the copy, tombstones included,
// in id order. Internal replication uses it to keep _local documents
// (replication checkpoints) and their deletions on every copy.
func (sh *Shard) LocalDocs(ctx context.Context) ([]LocalDoc, error) {
	prefix := sh.keys.local("")
	var out []LocalDoc
	err := sh.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			d, err := decodeLocal(string(item.Key()[len(prefix):]), item.UserMeta(), v)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list local docs of %s: %w", sh.name, err)
	}
	return out, nil
}
