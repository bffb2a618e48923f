package testnode

import (
	"strings"
	"testing"
)

func TestOutputListeningLine(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"plain", `time=2025-01-01T00:00:00Z level=INFO msg="http listening" addr=127.0.0.1:40123 node=n1@127.0.0.1` + "\n", "127.0.0.1:40123"},
		{"quoted addr", `level=INFO msg="http listening" addr="[::1]:5984"` + "\n", "[::1]:5984"},
		{"split writes", "level=INFO msg=\"http list|ening\" addr=127.0.0.1:1|2\n", "127.0.0.1:12"},
		{"other lines first", "level=INFO msg=\"divan starting\" addr=x\nlevel=INFO msg=\"http listening\" addr=127.0.0.1:7\n", "127.0.0.1:7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutput()
			ch := o.startRun("=== run\n")
			w := o.writer("stderr")
			for _, part := range strings.Split(tc.input, "|") {
				w.Write([]byte(part))
			}
			select {
			case got := <-ch:
				if got != tc.want {
					t.Errorf("addr %q, want %q", got, tc.want)
				}
			default:
				t.Fatalf("no address announced; output:\n%s", o.String())
			}
		})
	}

	// stdout lines and lines without the message announce nothing.
	o := newOutput()
	ch := o.startRun("")
	o.writer("stdout").Write([]byte(`msg="http listening" addr=127.0.0.1:1` + "\n"))
	o.writer("stderr").Write([]byte(`msg="started" addr=127.0.0.1:2` + "\n"))
	o.writer("stderr").Write([]byte(`msg="http listening" addr=127.0.0.1:3`)) // no newline yet
	select {
	case got := <-ch:
		t.Fatalf("unexpected announcement %q", got)
	default:
	}
	o.flush()
	if got := <-ch; got != "127.0.0.1:3" {
		t.Errorf("after flush: addr %q, want 127.0.0.1:3", got)
	}
}
