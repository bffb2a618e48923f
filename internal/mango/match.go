package mango

import (
	"bytes"
	"math/big"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/divandb/divan/internal/collate"
)

// node is a compiled condition. match gets a value's JSON text (trimmed)
// and whether comparisons use raw collation, which CouchDB switches to below
// the _id field.
type node interface {
	match(v []byte, raw bool) bool
}

// compile turns a normalised selector into nodes.
func compile(s *sel) (node, error) {
	switch s.key {
	case "$and", "$or", "$nor":
		kids := make([]node, 0, len(s.list))
		for _, x := range s.list {
			n, err := compile(x)
			if err != nil {
				return nil, err
			}
			kids = append(kids, n)
		}
		switch {
		case len(kids) == 0:
			// {$and: []}, {$or: []} and {$nor: []} match anything.
			return trueNode{}, nil
		case s.key == "$and":
			return andNode(kids), nil
		case s.key == "$or":
			return orNode(kids), nil
		}
		// A $nor that normalisation left inside $elemMatch & co.; CouchDB
		// fails the request there (invalid_operator), Divan evaluates it.
		return notNode{orNode(kids)}, nil
	case "$not", "$elemMatch", "$allMatch", "$keyMapMatch":
		kid, err := compile(s.sub)
		if err != nil {
			return nil, err
		}
		switch s.key {
		case "$not":
			return notNode{kid}, nil
		case "$elemMatch":
			return elemMatchNode{kid}, nil
		case "$allMatch":
			return allMatchNode{kid}, nil
		}
		return keyMapMatchNode{kid}, nil
	case "$default":
		// $text: CouchDB trusts the text index that found the document.
		return trueNode{}, nil
	case "$lt", "$lte", "$eq", "$ne", "$gte", "$gt":
		return &cmpNode{op: cmpOps[s.key], arg: s.lit.raw}, nil
	case "$in", "$nin":
		n := &inNode{not: s.key == "$nin"}
		for _, a := range s.lit.arr {
			n.args = append(n.args, a.raw)
		}
		return n, nil
	case "$all":
		n := &allNode{}
		for _, a := range s.lit.arr {
			n.args = append(n.args, a.raw)
		}
		if len(s.lit.arr) == 1 && s.lit.arr[0].kind == jArray {
			n.whole = s.lit.arr[0].raw
		}
		return n, nil
	case "$exists":
		return existsNode(s.lit.kind == jTrue), nil
	case "$type":
		return typeNode(s.lit.str), nil
	case "$size":
		n := s.lit.integer()
		if !n.IsInt64() {
			return falseNode{}, nil // no array is that long
		}
		return sizeNode(n.Int64()), nil
	case "$mod":
		return newModNode(s.lit.arr[0].integer(), s.lit.arr[1].integer()), nil
	case "$regex":
		re, err := compileRegex(s.lit.str)
		if err != nil {
			return nil, badArg("$regex", s.lit)
		}
		return regexNode{re}, nil
	case "$beginsWith":
		return beginsWithNode(s.lit.str), nil
	}
	// A field condition.
	path, err := splitField(s.key)
	if err != nil {
		return nil, err
	}
	cond, err := compile(s.sub)
	if err != nil {
		return nil, err
	}
	f := &fieldNode{path: path, isID: s.key == "_id", cond: cond}
	if s.sub.key == "$exists" && s.sub.lit.kind == jFalse {
		f.missingMatches = true
	}
	return f, nil
}

type trueNode struct{}

func (trueNode) match([]byte, bool) bool { return true }

type falseNode struct{}

func (falseNode) match([]byte, bool) bool { return false }

type andNode []node

func (n andNode) match(v []byte, raw bool) bool {
	for _, k := range n {
		if !k.match(v, raw) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(v []byte, raw bool) bool {
	for _, k := range n {
		if k.match(v, raw) {
			return true
		}
	}
	return false
}

type notNode struct{ kid node }

func (n notNode) match(v []byte, raw bool) bool { return !n.kid.match(v, raw) }

// fieldNode finds a field and matches its condition against the value. A
// missing field matches only {$exists: false}; a path through a scalar or a
// bad array index matches nothing.
type fieldNode struct {
	path           []string
	isID           bool
	missingMatches bool
	cond           node
}

func (n *fieldNode) match(v []byte, raw bool) bool {
	sub, res := lookup(v, n.path)
	switch res {
	case notFound:
		return n.missingMatches
	case badPath:
		return false
	}
	return n.cond.match(sub, raw || n.isID)
}

func compareJSON(a, b []byte, raw bool) int {
	if raw {
		return collate.CompareRawJSON(a, b)
	}
	return collate.Compare(a, b)
}

type cmpOp uint8

const (
	opLT cmpOp = iota
	opLTE
	opEQ
	opNE
	opGTE
	opGT
)

var cmpOps = map[string]cmpOp{"$lt": opLT, "$lte": opLTE, "$eq": opEQ, "$ne": opNE, "$gte": opGTE, "$gt": opGT}

// cmpNode compares the whole value with the argument in collation order, so
// comparisons across types follow the type order (null < false < true <
// numbers < strings < arrays < objects) and an array compares as an array.
type cmpNode struct {
	op  cmpOp
	arg []byte
}

func (n *cmpNode) match(v []byte, raw bool) bool {
	c := compareJSON(v, n.arg, raw)
	switch n.op {
	case opLT:
		return c < 0
	case opLTE:
		return c <= 0
	case opEQ:
		return c == 0
	case opNE:
		return c != 0
	case opGTE:
		return c >= 0
	}
	return c > 0
}

// inNode is $in (any argument equal) or $nin (no argument equal). An array
// value is tested element by element, not as a whole.
type inNode struct {
	not  bool
	args [][]byte
}

func (n *inNode) match(v []byte, raw bool) bool {
	if len(n.args) == 0 {
		return n.not
	}
	hit := false
	if len(v) > 0 && v[0] == '[' {
		elements(v, func(e []byte) bool {
			for _, a := range n.args {
				if compareJSON(e, a, raw) == 0 {
					hit = true
					return false
				}
			}
			return true
		})
	} else {
		for _, a := range n.args {
			if compareJSON(v, a, raw) == 0 {
				hit = true
				break
			}
		}
	}
	return hit != n.not
}

// allNode is $all: an array containing every argument (by exact term
// equality, so 1 and 1.0 differ), or, when the only argument is an array, an
// array equal to it.
type allNode struct {
	args  [][]byte
	whole []byte
}

func (n *allNode) match(v []byte, _ bool) bool {
	if len(n.args) == 0 {
		return false
	}
	if n.whole != nil && termEqual(n.whole, v, true, 0) {
		return true
	}
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	for _, a := range n.args {
		member := false
		elements(v, func(e []byte) bool {
			member = termEqual(a, e, false, 0)
			return !member
		})
		if !member {
			return false
		}
	}
	return true
}

type existsNode bool

func (n existsNode) match([]byte, bool) bool { return bool(n) }

type typeNode string

func (n typeNode) match(v []byte, _ bool) bool { return typeName(v) == string(n) }

type sizeNode int64

func (n sizeNode) match(v []byte, _ bool) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	count := int64(0)
	if !elements(v, func([]byte) bool { count++; return true }) {
		return false
	}
	return count == int64(n)
}

// modNode is $mod: an integer (not a number written with a fraction or an
// exponent) whose truncated remainder by the divisor is the remainder, as
// Erlang's rem computes it (the sign follows the dividend).
type modNode struct {
	small      bool
	d, r       int64
	bigD, bigR *big.Int
}

func newModNode(d, r *big.Int) *modNode {
	if d.IsInt64() && r.IsInt64() {
		return &modNode{small: true, d: d.Int64(), r: r.Int64(), bigD: d, bigR: r}
	}
	return &modNode{bigD: d, bigR: r}
}

func (n *modNode) match(v []byte, _ bool) bool {
	if !isNumber(v) || isFloatText(v) {
		return false
	}
	if n.small && len(v) <= 18 {
		x, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return false
		}
		return x%n.d == n.r
	}
	x, ok := new(big.Int).SetString(string(v), 10)
	if !ok {
		return false
	}
	return new(big.Int).Rem(x, n.bigD).Cmp(n.bigR) == 0
}

// regexNode is $regex on strings, searched unanchored as re:run does.
type regexNode struct{ re *regexp.Regexp }

func (n regexNode) match(v []byte, _ bool) bool {
	if len(v) == 0 || v[0] != '"' {
		return false
	}
	s, ok := decodeString(v)
	if !ok {
		return false
	}
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return n.re.MatchString(latin1(string(s)))
		}
	}
	return n.re.Match(s)
}

// beginsWithNode is $beginsWith: a string starting with the prefix,
// compared by code points (so by UTF-8 bytes), case-sensitively.
type beginsWithNode string

func (n beginsWithNode) match(v []byte, _ bool) bool {
	if len(v) == 0 || v[0] != '"' {
		return false
	}
	s, ok := decodeString(v)
	return ok && bytes.HasPrefix(s, []byte(n))
}

// elemMatchNode matches an array with at least one matching element.
type elemMatchNode struct{ kid node }

func (n elemMatchNode) match(v []byte, raw bool) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	hit := false
	elements(v, func(e []byte) bool {
		hit = n.kid.match(e, raw)
		return !hit
	})
	return hit
}

// allMatchNode matches a non-empty array whose elements all match.
type allMatchNode struct{ kid node }

func (n allMatchNode) match(v []byte, raw bool) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	count, all := 0, true
	ok := elements(v, func(e []byte) bool {
		count++
		all = n.kid.match(e, raw)
		return all
	})
	return ok && all && count > 0
}

// keyMapMatchNode matches an object with at least one key (as a string
// value) that matches.
type keyMapMatchNode struct{ kid node }

func (n keyMapMatchNode) match(v []byte, raw bool) bool {
	if len(v) == 0 || v[0] != '{' {
		return false
	}
	hit := false
	members(v, func(k, _ []byte) bool {
		hit = n.kid.match(k, raw)
		return !hit
	})
	return hit
}

// termEqual is Erlang term equality of two JSON values: =:= (loose false:
// an integer never equals a double) or == (loose true: numbers by value).
// Objects are equal only with the same members in the same order.
func termEqual(a, b []byte, loose bool, depth int) bool {
	if len(a) == 0 || len(b) == 0 || depth > maxDepth {
		return false
	}
	ta, tb := typeName(a), typeName(b)
	if ta != tb {
		return false
	}
	switch ta {
	case "null":
		return true
	case "boolean":
		return a[0] == b[0]
	case "number":
		if !loose && isFloatText(a) != isFloatText(b) {
			return false
		}
		return collate.Compare(a, b) == 0
	case "string":
		sa, oka := decodeString(a)
		sb, okb := decodeString(b)
		return oka && okb && bytes.Equal(sa, sb)
	case "array":
		var ea [][]byte
		if !elements(a, func(e []byte) bool { ea = append(ea, e); return true }) {
			return false
		}
		i, equal := 0, true
		ok := elements(b, func(e []byte) bool {
			if i >= len(ea) || !termEqual(ea[i], e, loose, depth+1) {
				equal = false
				return false
			}
			i++
			return true
		})
		return ok && equal && i == len(ea)
	case "object":
		type kv struct{ k, v []byte }
		var ma []kv
		if !members(a, func(k, v []byte) bool { ma = append(ma, kv{k, v}); return true }) {
			return false
		}
		i, equal := 0, true
		ok := members(b, func(k, v []byte) bool {
			if i >= len(ma) {
				equal = false
				return false
			}
			ka, oka := decodeString(ma[i].k)
			kb, okb := decodeString(k)
			if !oka || !okb || !bytes.Equal(ka, kb) || !termEqual(ma[i].v, v, loose, depth+1) {
				equal = false
				return false
			}
			i++
			return true
		})
		return ok && equal && i == len(ma)
	}
	return false
}
