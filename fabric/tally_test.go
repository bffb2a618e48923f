package fabric

import (
	"errors"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestTally(t *testing.T) {
	a := couch.Rev{Pos: 1, ID: "aaaa"}
	b := couch.Rev{Pos: 1, ID: "bbbb"}
	ok := func(r couch.Rev) *copyReply {
		return &copyReply{results: []couch.UpdateResult{{ID: "d", Rev: r}}}
	}
	docErr := func(err error) *copyReply {
		return &copyReply{results: []couch.UpdateResult{{ID: "d", Err: err}}}
	}
	failed := &copyReply{err: errors.New("node down")}
	for _, tc := range []struct {
		name     string
		replies  []*copyReply
		w        int
		rev      couch.Rev
		accepted bool
		err      error
		quorum   bool
	}{
		{"all agree", []*copyReply{ok(a), ok(a), ok(a)}, 2, a, false, nil, true},
		{"w reached with one pending", []*copyReply{ok(a), nil, ok(a)}, 2, a, false, nil, true},
		{"below w", []*copyReply{ok(a), nil, failed}, 2, a, true, nil, false},
		{"majority revision wins", []*copyReply{ok(a), ok(b), ok(b)}, 2, b, false, nil, true},
		{"split below w", []*copyReply{ok(a), ok(b), nil}, 2, a, true, nil, false},
		{"errors do not count", []*copyReply{docErr(couch.ErrConflict), ok(a), failed}, 2, a, true, nil, false},
		{"only errors", []*copyReply{docErr(couch.ErrConflict), failed, nil}, 2, couch.Rev{}, false, couch.ErrConflict, false},
		{"none answered", []*copyReply{nil, nil, nil}, 2, couch.Rev{}, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, quorum := tally("d", 0, tc.replies, tc.w)
			if res.ID != "d" || res.Rev != tc.rev || res.Accepted != tc.accepted || !errors.Is(res.Err, tc.err) || quorum != tc.quorum {
				t.Fatalf("tally = %+v quorum %v; want rev %v accepted %v err %v quorum %v",
					res, quorum, tc.rev, tc.accepted, tc.err, tc.quorum)
			}
		})
	}
}
