package main

import (
	"strings"
	"testing"

	"github.com/provision/provision/provision"
)

func TestBar(t *testing.T) {
	tests := []struct {
		state provision.State
		want  string
	}{
		{provision.StateNew, "[..........]"},
		{provision.StateDHCP, "[####......]"},
		{provision.StateReady, "[##########]"},
		{provision.StateFailed, "[!!!!!!!!!!]"},
	}
	for _, tt := range tests {
		if got := bar(tt.state); got != tt.want {
			t.Errorf("bar(%s) = %s, want %s", tt.state, got, tt.want)
		}
	}
	if got := clip("a  b\nc "+strings.Repeat("x", 100), 10); got != "a b c xxx…" {
		t.Errorf("clip = %q", got)
	}
}
