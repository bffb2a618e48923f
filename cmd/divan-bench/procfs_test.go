package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tdivan\nVmPeak:\t 1300000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80000 kB\n"
	got, err := parseVmHWM(status)
	if err != nil || got != 81234*1024 {
		t.Fatalf("parseVmHWM = %d, %v", got, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\n", "VmHWM:\tlots kB\n"} {
		if _, err := parseVmHWM(bad); err == nil {
			t.Errorf("parseVmHWM(%q) gave no error", bad)
		}
	}
	// This test process has a VmHWM of its own.
	if v, err := readVmHWM(os.Getpid()); err != nil || v <= 0 {
		t.Errorf("readVmHWM(self) = %d, %v", v, err)
	}
	s := &rssSampler{pid: os.Getpid()}
	if s.sample() <= 0 {
		t.Error("sampler saw no RSS")
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := "30126 (di van) S 1 30126 30126 0 -1 4194560 5091 0 0 0 1234 566 0 0 20 0 9 0 4205 1566720000 13000 18446744073709551615\n"
	got, err := parseStatCPU(stat)
	if err != nil || got != 18*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 18s", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 0 0"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) gave no error", bad)
		}
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Errorf("readCPU(self): %v", err)
	}
}

func TestParseBusy(t *testing.T) {
	stat := "cpu  100 20 30 4000 50 6 7 8 0 0\ncpu0 50 10 15 2000 25 3 3 4 0 0\nintr 1 2\n"
	got, err := parseBusy(stat)
	if want := (100 + 20 + 30 + 6 + 7 + 8) * time.Second / clockTicks; err != nil || got != want {
		t.Fatalf("parseBusy = %v, %v; want %v", got, err, want)
	}
	if _, err := parseBusy("cpu0 1 2 3 4 5 6 7 8\n"); err == nil {
		t.Error("no error without the cpu line")
	}
	m := startCPUMeter(os.Getpid()) // the test process as the "node"
	node, others := m.stop()
	if node < 0 || others < 0 {
		t.Errorf("cpuMeter: node %v, others %v", node, others)
	}
	if node, others := startCPUMeter(0).stop(); node != -1 || others != -1 {
		t.Errorf("cpuMeter without a pid: node %v, others %v", node, others)
	}
}

func TestWaitIdle(t *testing.T) {
	if !idle(50*time.Millisecond, time.Second) || idle(200*time.Millisecond, time.Second) {
		t.Error("idle threshold")
	}
	sleeper := exec.Command("sleep", "10")
	if err := sleeper.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	waited, ok := waitIdle(context.Background(), []int{sleeper.Process.Pid}, 5*time.Second)
	if !ok || waited > 3*time.Second {
		t.Errorf("sleeping process: waited %v, idle %v", waited, ok)
	}
	if _, ok := waitIdle(context.Background(), []int{0}, time.Second); ok {
		t.Error("unknown pid reported idle")
	}
}
