package collate

import (
	"bytes"
	"sync"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// collators holds ready-made root collators. A *collate.Collator keeps
// iteration state and is not safe for concurrent use, and building one costs
// far more than a comparison, so comparisons borrow one from this pool. It is
// the package's only mutable state.
var collators = sync.Pool{New: func() any { return collate.New(language.Und) }}

// compareStrings compares decoded strings with the root collation.
func compareStrings(a, b []byte) int {
	if bytes.Equal(a, b) {
		return 0
	}
	if r, ok := compareASCII(a, b); ok {
		return r
	}
	c := collators.Get().(*collate.Collator)
	r := c.Compare(a, b)
	collators.Put(c)
	return r
}

// asciiOrder lists the ASCII characters that carry collation weight in the
// root collation, in collation order. An upper-case letter has the primary
// weight of the lower-case letter before it and a greater tertiary weight;
// every other character has a primary weight of its own. The remaining
// control characters (NUL..BS, SO..US, DEL) are ignorable at every level.
// TestASCIITable checks this against x/text.
//
// collation.rst shows an older ICU's sequence with ` and ^ first; current ICU
// root (and x/text) sorts them after % as below.
const asciiOrder = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789" +
	"aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"

// asciiPrimary maps an ASCII byte to its primary weight (0: ignorable) and
// asciiUpper marks the upper-case letters (the greater tertiary weight). Both
// are computed once from asciiOrder and never written again.
var asciiPrimary, asciiUpper = func() (p, u [128]uint8) {
	w := uint8(0)
	for i := 0; i < len(asciiOrder); i++ {
		c := asciiOrder[i]
		if 'A' <= c && c <= 'Z' {
			p[c] = w
			u[c] = 1
			continue
		}
		w++
		p[c] = w
	}
	return
}()

// compareASCII compares two strings of ASCII characters with the root
// collation's weights: primary weights first, then case. ok is false when
// either string has a byte outside ASCII.
func compareASCII(a, b []byte) (r int, ok bool) {
	for _, c := range a {
		if c >= 0x80 {
			return 0, false
		}
	}
	for _, c := range b {
		if c >= 0x80 {
			return 0, false
		}
	}
	if r := asciiLevel(a, b, &asciiPrimary); r != 0 {
		return r, true
	}
	return asciiLevel(a, b, &asciiUpper), true
}

// asciiLevel compares the weights of one level, skipping ignorable
// characters. At the case level every non-ignorable character contributes,
// so both strings have the same number of them once the primaries agree.
func asciiLevel(a, b []byte, weight *[128]uint8) int {
	i, j := 0, 0
	for {
		for i < len(a) && asciiPrimary[a[i]] == 0 {
			i++
		}
		for j < len(b) && asciiPrimary[b[j]] == 0 {
			j++
		}
		if i == len(a) || j == len(b) {
			return cmpInt(len(a)-i, len(b)-j) // the longer one has weights left
		}
		if wa, wb := weight[a[i]], weight[b[j]]; wa != wb {
			return cmpInt(int(wa), int(wb))
		}
		i++
		j++
	}
}
