package bmc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCollection(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "jobs", in: `{"Members":[{"@odata.id":"/redfish/v1/Managers/iDRAC.Embedded.1/Jobs/JID_1"}],"Members@odata.count":1}`,
			want: []string{"/redfish/v1/Managers/iDRAC.Embedded.1/Jobs/JID_1"}},
		{name: "empty", in: `{"Members":[]}`, want: []string{}},
		{name: "member off the service", in: `{"Members":[{"@odata.id":"https://evil/x"}]}`, wantErr: true},
		{name: "not JSON", in: `<html>`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseCollection(strings.NewReader(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.name, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); !tt.wantErr && d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"on": On, " OFF": Off, "Shutdown": Shutdown, "cycle": Cycle, "reboot": ""} {
		got, err := ParseAction(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseAction(%q) = %q, %v", in, got, err)
		}
	}
}

// FuzzParseCollection and FuzzParseJob read what an iDRAC sends.
func FuzzParseCollection(f *testing.F) {
	f.Add(`{"Members":[{"@odata.id":"/redfish/v1/Systems/System.Embedded.1"}]}`)
	f.Add(`{"Members":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		ms, err := parseCollection(strings.NewReader(in))
		for _, m := range ms {
			if err != nil || !strings.HasPrefix(m, "/redfish/") {
				t.Fatalf("member %q with err %v", m, err)
			}
		}
	})
}

func FuzzParseJob(f *testing.F) {
	f.Add(`{"Id":"JID_123","JobState":"Scheduled"}`)
	f.Add(`{"Id":"","JobState":"Running"}`)
	f.Fuzz(func(t *testing.T, in string) {
		j, err := parseJob(strings.NewReader(in))
		if err == nil && j.ID == "" {
			t.Fatal("job without an Id accepted")
		}
	})
}

// FuzzNormalizeFingerprint reads pins the operator types or the state
// holds: a normalised pin is stable.
func FuzzNormalizeFingerprint(f *testing.F) {
	f.Add("SHA256:AB:CD:EF")
	f.Add(strings.Repeat("0a", 32))
	f.Fuzz(func(t *testing.T, in string) {
		n := NormalizeFingerprint(in)
		if NormalizeFingerprint(n) != n {
			t.Fatalf("not stable: %q -> %q -> %q", in, n, NormalizeFingerprint(n))
		}
	})
}

func TestOlderThan(t *testing.T) {
	tests := []struct {
		v         string
		older, ok bool
	}{
		{"2.65.65.65", false, true},
		{"2.40.40.40", false, true},
		{"2.30.30.30", true, true},
		{"1.66.65", true, true},
		{"4.40.00.00", false, true},
		{"2.40.40", true, true},
		{"", false, false},
		{"v2.1", false, false},
	}
	for _, tt := range tests {
		older, ok := olderThan(tt.v, minFirmware)
		if older != tt.older || ok != tt.ok {
			t.Errorf("olderThan(%q) = %v, %v; want %v, %v", tt.v, older, ok, tt.older, tt.ok)
		}
	}
}

// FuzzOlderThan reads firmware versions as the iDRAC reports them: the
// comparison is antisymmetric.
func FuzzOlderThan(f *testing.F) {
	f.Add("2.65.65.65", "2.40.40.40")
	f.Add("3.0", "3.0.0")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ok1 := olderThan(a, b)
		ba, ok2 := olderThan(b, a)
		if ok1 && ok2 && ab && ba {
			t.Fatalf("%q < %q and %q < %q", a, b, b, a)
		}
	})
}
