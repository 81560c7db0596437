package lab

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLinkFlap(t *testing.T) {
	flap := func(period, down time.Duration, times int) LinkFlap {
		return LinkFlap{Period: Duration{period}, Down: Duration{down}, Times: times}
	}
	tests := []struct {
		name, in string
		want     LinkFlap
		wantErr  bool
	}{
		{name: "defaults", in: "", want: flap(4*time.Second, time.Second, 3)},
		{name: "period", in: "10s", want: flap(10*time.Second, time.Second, 3)},
		{name: "period and times", in: "5sx10", want: flap(5*time.Second, time.Second, 10)},
		{name: "until power-off", in: "2sx0", want: flap(2*time.Second, time.Second, 0)},
		{name: "short period: down half of it", in: "600ms", want: flap(600*time.Millisecond, 300*time.Millisecond, 3)},
		{name: "times only", in: "x5", want: flap(4*time.Second, time.Second, 5)},
		{name: "not a duration", in: "often", wantErr: true},
		{name: "zero period", in: "0s", wantErr: true},
		{name: "negative times", in: "4sx-1", wantErr: true},
		{name: "times not a number", in: "4sxmany", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLinkFlap(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLinkFlap(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParseLinkFlap(%q) (-want +got):\n%s", tt.in, diff)
				}
			}
		})
	}
}

func TestParseIDRACSlow(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", DefaultIDRACSlow, false},
		{"500ms", 500 * time.Millisecond, false},
		{"45s", 45 * time.Second, false},
		{"slow", 0, true},
		{"0s", 0, true},
		{"-1s", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseIDRACSlow(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseIDRACSlow(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestFaultsRecord: the faults survive the lab record's JSON, and say
// what they are in lab status.
func TestFaultsRecord(t *testing.T) {
	lf, err := ParseLinkFlap("5sx0")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]NodeFaults{
		"compute01": {IDRACSlow: Duration{3 * time.Second}},
		"compute02": {LinkFlap: &lf, IDRACDown: true},
		"compute03": {MissingDisk: "sdb", NoCallback: true},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]NodeFaults
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("faults after JSON (-want +got):\n%s", diff)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["compute03"]["idrac_slow"]; ok {
		t.Errorf("a node without the slow fault records idrac_slow: %s", data)
	}
	want := map[string]string{
		"compute01": "iDRAC slow (3s)",
		"compute02": "iDRAC down, link flaps (down 1s every 5s, until power-off)",
		"compute03": "never calls back, disk sdb missing",
	}
	for node, w := range want {
		if got := out[node].String(); got != w {
			t.Errorf("%s: String() = %q, want %q", node, got, w)
		}
	}
}

// portLog records a flapper's port changes; it can end the boot at the
// n-th down.
type portLog struct {
	mu       sync.Mutex
	calls    []string
	cancelAt int
	cancel   context.CancelFunc
	failDown bool
}

func (p *portLog) set(ctx context.Context, up bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !up && p.failDown {
		return errors.New("ip: no such device")
	}
	state := "down"
	if up {
		state = "up"
	}
	p.calls = append(p.calls, state)
	if !up && p.cancel != nil && countDowns(p.calls) == p.cancelAt {
		p.cancel()
	}
	return nil
}

func countDowns(calls []string) int {
	n := 0
	for _, c := range calls {
		if c == "down" {
			n++
		}
	}
	return n
}

// TestFlapper: the flapper takes the port down the times it is told,
// or until the boot ends, and leaves it up whatever ends it.
func TestFlapper(t *testing.T) {
	short := LinkFlap{Period: Duration{20 * time.Millisecond}, Down: Duration{5 * time.Millisecond}}
	tests := []struct {
		name      string
		times     int
		cancelAt  int // end the boot at this down (0: never)
		failDown  bool
		wantDowns int
		wantCalls []string
	}{
		{name: "bounded", times: 3, wantDowns: 3, wantCalls: []string{"down", "up", "down", "up", "down", "up"}},
		{name: "until power-off", times: 0, cancelAt: 2, wantDowns: 2, wantCalls: []string{"down", "up", "down", "up"}},
		{name: "power-off during the first flap", times: 3, cancelAt: 1, wantDowns: 1, wantCalls: []string{"down", "up"}},
		{name: "port gone", times: 3, failDown: true, wantDowns: 0, wantCalls: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p := &portLog{cancelAt: tt.cancelAt, failDown: tt.failDown}
			if tt.cancelAt > 0 {
				p.cancel = cancel
			}
			lf := short
			lf.Times = tt.times
			f := flapper{flap: lf, set: p.set, log: slog.New(slog.DiscardHandler)}
			if got := f.run(ctx); got != tt.wantDowns {
				t.Errorf("run() = %d downs, want %d", got, tt.wantDowns)
			}
			if diff := cmp.Diff(tt.wantCalls, p.calls); diff != "" {
				t.Errorf("port changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckQEMUFaults(t *testing.T) {
	qemu := map[string]string{"compute01": "bios"}
	ok := map[string]NodeFaults{"compute01": {IDRACDown: true, LinkFlap: &LinkFlap{}}, "compute02": {NoCallback: true}}
	if err := checkQEMUFaults(qemu, ok); err != nil {
		t.Errorf("iDRAC and link faults on a QEMU node, installer faults on another: %v", err)
	}
	bad := map[string]NodeFaults{"compute01": {NoCallback: true, MissingDisk: "sdb"}}
	err := checkQEMUFaults(qemu, bad)
	if err == nil || !strings.Contains(err.Error(), "--no-callback") || !strings.Contains(err.Error(), "--missing-disk") {
		t.Errorf("installer faults on a QEMU node: %v, want both refused", err)
	}
}
