package rpc

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// Conversions between the domain types and their wire messages. Bodies and
// other raw JSON are passed through as the same bytes; rev trees travel in
// their MarshalBinary form.

func revToProto(r couch.Rev) *pb.Rev {
	if r.IsZero() {
		return nil
	}
	return &pb.Rev{Pos: int64(r.Pos), Id: r.ID}
}

func revFromProto(r *pb.Rev) couch.Rev {
	if r == nil {
		return couch.Rev{}
	}
	return couch.Rev{Pos: int(r.GetPos()), ID: r.GetId()}
}

func revsToProto(revs []couch.Rev) []*pb.Rev {
	if revs == nil {
		return nil
	}
	out := make([]*pb.Rev, len(revs))
	for i, r := range revs {
		out[i] = &pb.Rev{Pos: int64(r.Pos), Id: r.ID}
	}
	return out
}

func revsFromProto(revs []*pb.Rev) []couch.Rev {
	if len(revs) == 0 {
		return nil
	}
	out := make([]couch.Rev, len(revs))
	for i, r := range revs {
		out[i] = revFromProto(r)
	}
	return out
}

func attsToProto(atts []couch.Attachment) []*pb.Attachment {
	if len(atts) == 0 {
		return nil
	}
	out := make([]*pb.Attachment, len(atts))
	for i := range atts {
		a := &atts[i]
		out[i] = &pb.Attachment{
			Name: a.Name, ContentType: a.ContentType, Digest: a.Digest,
			Length: a.Length, Revpos: int64(a.RevPos),
			Encoding: a.Encoding, EncodedLength: a.EncodedLength,
			Stub: a.Stub, Follows: a.Follows, Data: a.Data,
		}
	}
	return out
}

func attsFromProto(atts []*pb.Attachment) []couch.Attachment {
	if len(atts) == 0 {
		return nil
	}
	out := make([]couch.Attachment, len(atts))
	for i, a := range atts {
		out[i] = couch.Attachment{
			Name: a.GetName(), ContentType: a.GetContentType(), Digest: a.GetDigest(),
			Length: a.GetLength(), RevPos: int(a.GetRevpos()),
			Encoding: a.GetEncoding(), EncodedLength: a.GetEncodedLength(),
			Stub: a.GetStub(), Follows: a.GetFollows(), Data: a.GetData(),
		}
	}
	return out
}

// docToProto describes d for the wire. The raw _attachments object is left
// out once parsed into Atts: it would only double the bytes sent.
func docToProto(d *couch.Doc) *pb.Doc {
	out := &pb.Doc{
		Id:           d.ID,
		Rev:          revToProto(d.Rev),
		Deleted:      d.Deleted,
		Body:         d.Body,
		Atts:         attsToProto(d.Atts),
		AttsSet:      d.Atts != nil,
		NewRevId:     d.NewRevID,
		LocalVersion: d.LocalVersion,
	}
	if d.Atts == nil {
		out.Attachments = d.Attachments
	}
	if d.Revisions != nil {
		out.Revisions = &pb.RevPath{Start: int64(d.Revisions.Start), Ids: d.Revisions.IDs}
	}
	return out
}

// docFromProto converts a received document. The strings are copied: a
// received UpdateRequest's fields alias its buffer (codec.go), and ids and
// revs may be kept (filters, errors) long after the write, while the bytes
// fields are only stored.
func docFromProto(d *pb.Doc) *couch.Doc {
	out := &couch.Doc{
		ID:           strings.Clone(d.GetId()),
		Rev:          revFromProto(d.GetRev()),
		Deleted:      d.GetDeleted(),
		Body:         capped(d.GetBody()),
		NewRevID:     strings.Clone(d.GetNewRevId()),
		LocalVersion: d.GetLocalVersion(),
	}
	out.Rev.ID = strings.Clone(out.Rev.ID)
	if a := d.GetAttachments(); a != nil {
		out.Attachments = json.RawMessage(capped(a))
	}
	if d.GetAttsSet() {
		out.Atts = attsFromProto(d.GetAtts())
		for i := range out.Atts {
			a := &out.Atts[i]
			a.Data = capped(a.Data)
			a.Name, a.ContentType = strings.Clone(a.Name), strings.Clone(a.ContentType)
			a.Digest, a.Encoding = strings.Clone(a.Digest), strings.Clone(a.Encoding)
		}
		if out.Atts == nil {
			out.Atts = []couch.Attachment{}
		}
	}
	if p := d.GetRevisions(); p != nil {
		ids := make([]string, len(p.GetIds()))
		for i, id := range p.GetIds() {
			ids[i] = strings.Clone(id)
		}
		out.Revisions = &couch.RevPath{Start: int(p.GetStart()), IDs: ids}
	}
	return out
}

// capped limits b's capacity to its length: a bytes field that aliases a
// received message's buffer would otherwise let an append overwrite the
// fields after it.
func capped(b []byte) []byte {
	if b == nil {
		return nil
	}
	return b[:len(b):len(b)]
}

func revisionToProto(r *couch.Revision) *pb.Revision {
	if r == nil {
		return nil
	}
	return &pb.Revision{
		Rev:     revToProto(r.Rev),
		Deleted: r.Deleted,
		Body:    r.Body,
		Atts:    attsToProto(r.Atts),
		Missing: r.Missing,
	}
}

func revisionFromProto(r *pb.Revision) *couch.Revision {
	if r == nil {
		return nil
	}
	return &couch.Revision{
		Rev:     revFromProto(r.GetRev()),
		Deleted: r.GetDeleted(),
		Body:    r.GetBody(),
		Atts:    attsFromProto(r.GetAtts()),
		Missing: r.GetMissing(),
	}
}

func treeToProto(t *couch.RevTree) ([]byte, error) {
	if t == nil {
		return nil, nil
	}
	return t.MarshalBinary()
}

func treeFromProto(b []byte) (*couch.RevTree, error) {
	t := couch.NewRevTree()
	if err := t.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("decode rev tree: %w", err)
	}
	return t, nil
}

func documentToProto(d *couch.Document) (*pb.Document, error) {
	out := &pb.Document{Id: d.ID, Seq: d.Seq}
	tree, err := treeToProto(d.Tree)
	if err != nil {
		return nil, err
	}
	out.RevTree = tree
	if d.Revisions != nil {
		out.Revisions = make([]*pb.Revision, len(d.Revisions))
		for i := range d.Revisions {
			out.Revisions[i] = revisionToProto(&d.Revisions[i])
		}
	}
	return out, nil
}

func documentFromProto(d *pb.Document) (*couch.Document, error) {
	out := &couch.Document{ID: d.GetId(), Seq: d.GetSeq()}
	if d.RevTree != nil {
		t, err := treeFromProto(d.RevTree)
		if err != nil {
			return nil, err
		}
		out.Tree = t
	}
	if len(d.GetRevisions()) > 0 {
		out.Revisions = make([]couch.Revision, len(d.GetRevisions()))
		for i, r := range d.GetRevisions() {
			out.Revisions[i] = *revisionFromProto(r)
		}
	}
	return out, nil
}

func docRowToProto(r *shard.DocRow) *pb.DocRow {
	return &pb.DocRow{
		Id:        r.ID,
		Rev:       revToProto(r.Rev),
		Deleted:   r.Deleted,
		Doc:       revisionToProto(r.Doc),
		Conflicts: revsToProto(r.Conflicts),
	}
}

func docRowFromProto(r *pb.DocRow) shard.DocRow {
	return shard.DocRow{
		ID:        r.GetId(),
		Rev:       revFromProto(r.GetRev()),
		Deleted:   r.GetDeleted(),
		Doc:       revisionFromProto(r.GetDoc()),
		Conflicts: revsFromProto(r.GetConflicts()),
	}
}

func changeToProto(c *shard.Change) (*pb.Change, error) {
	tree, err := treeToProto(c.Tree)
	if err != nil {
		return nil, err
	}
	return &pb.Change{Seq: c.Seq, Id: c.ID, Deleted: c.Deleted, RevTree: tree}, nil
}

// changeFromProto rebuilds a change; its leaves come from the tree, in the
// same winner order the shard computes them in.
func changeFromProto(c *pb.Change) (shard.Change, error) {
	out := shard.Change{Seq: c.GetSeq(), ID: c.GetId(), Deleted: c.GetDeleted()}
	if c.RevTree != nil {
		t, err := treeFromProto(c.RevTree)
		if err != nil {
			return out, err
		}
		out.Tree = t
		out.Leaves = t.Leaves()
	}
	return out, nil
}

func docRevsToProto(m map[string][]couch.Rev) []*pb.DocRevs {
	out := make([]*pb.DocRevs, 0, len(m))
	for id, revs := range m {
		out = append(out, &pb.DocRevs{Id: id, Revs: revsToProto(revs)})
	}
	return out
}

// docRevsFromProto rebuilds a map of revisions per document; every listed id
// maps to a non-nil slice, as the shard's purge result does.
func docRevsFromProto(docs []*pb.DocRevs) map[string][]couch.Rev {
	out := make(map[string][]couch.Rev, len(docs))
	for _, d := range docs {
		revs := make([]couch.Rev, 0, len(d.GetRevs()))
		for _, r := range d.GetRevs() {
			revs = append(revs, revFromProto(r))
		}
		if prev, ok := out[d.GetId()]; ok {
			revs = append(prev, revs...)
		}
		out[d.GetId()] = revs
	}
	return out
}

func infoToProto(i shard.Info) *pb.InfoResponse {
	return &pb.InfoResponse{
		Name: i.Name, Uuid: i.UUID,
		UpdateSeq: i.UpdateSeq, PurgeSeq: i.PurgeSeq,
		DocCount: i.DocCount, DocDelCount: i.DocDelCount,
		External: i.External, Active: i.Active,
		Props: i.Props, SecurityVersion: i.SecurityVersion, LocalSeq: i.LocalSeq,
	}
}

func infoFromProto(i *pb.InfoResponse) shard.Info {
	return shard.Info{
		Name: i.GetName(), UUID: i.GetUuid(),
		UpdateSeq: i.GetUpdateSeq(), PurgeSeq: i.GetPurgeSeq(),
		DocCount: i.GetDocCount(), DocDelCount: i.GetDocDelCount(),
		External: i.GetExternal(), Active: i.GetActive(),
		Props: i.GetProps(), SecurityVersion: i.GetSecurityVersion(), LocalSeq: i.GetLocalSeq(),
	}
}

func revsDiffToProto(m map[string]shard.RevsDiff) []*pb.RevsDiff {
	out := make([]*pb.RevsDiff, 0, len(m))
	for id, d := range m {
		out = append(out, &pb.RevsDiff{
			Id:                id,
			Missing:           revsToProto(d.Missing),
			PossibleAncestors: revsToProto(d.PossibleAncestors),
		})
	}
	return out
}

func revsDiffFromProto(docs []*pb.RevsDiff) map[string]shard.RevsDiff {
	out := make(map[string]shard.RevsDiff, len(docs))
	for _, d := range docs {
		out[d.GetId()] = shard.RevsDiff{
			Missing:           revsFromProto(d.GetMissing()),
			PossibleAncestors: revsFromProto(d.GetPossibleAncestors()),
		}
	}
	return out
}
