package testnode

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// output collects everything a node process writes (all runs, in order) and
// watches stderr lines for the "http listening" announcement.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial map[string][]byte // incomplete trailing line per stream
	// listen receives the address of the current run once announced; it is
	// replaced on every (re)start.
	listen chan string
	// lines seen by the current run, for early-exit diagnostics
	runStart int
}

func newOutput() *output {
	return &output{partial: map[string][]byte{}}
}

// startRun marks the beginning of a new process run and returns the channel
// its listening address will be sent on.
func (o *output) startRun(header string) chan string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.WriteString(header)
	o.runStart = o.buf.Len()
	o.listen = make(chan string, 1)
	o.partial = map[string][]byte{}
	return o.listen
}

// writer returns an io.Writer for one stream of the current run.
func (o *output) writer(stream string) *streamWriter {
	return &streamWriter{o: o, stream: stream}
}

type streamWriter struct {
	o      *output
	stream string
}

func (w *streamWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	data := append(o.partial[w.stream], p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		o.line(w.stream, data[:i])
		data = data[i+1:]
	}
	o.partial[w.stream] = append([]byte(nil), data...)
	return len(p), nil
}

var (
	listeningRE = regexp.MustCompile(`msg="?http listening"?`)
	addrRE      = regexp.MustCompile(`\baddr=("(?:[^"\\]|\\.)*"|\S+)`)
)

func (o *output) line(stream string, l []byte) {
	if stream == "stdout" {
		o.buf.WriteString("[stdout] ")
	}
	o.buf.Write(l)
	o.buf.WriteByte('\n')
	if stream != "stderr" || !listeningRE.Match(l) {
		return
	}
	m := addrRE.FindSubmatch(l)
	if m == nil {
		return
	}
	addr := strings.Trim(string(m[1]), `"`)
	select {
	case o.listen <- addr:
	default:
	}
}

// flush writes out incomplete trailing lines (after a process exited).
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for stream, data := range o.partial {
		if len(data) > 0 {
			o.line(stream, data)
		}
	}
	o.partial = map[string][]byte{}
}

func (o *output) note(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		o.buf.WriteByte('\n')
	}
}

// String returns everything written so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// currentRun returns what the current run has written.
func (o *output) currentRun() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf.Bytes()[o.runStart:])
}

// tail returns at most max bytes from the end, cut at a line boundary.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[... earlier output elided ...]\n" + s
}
