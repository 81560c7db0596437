package store

import (
	"testing"
	"time"

	"github.com/provision/provision/provision"
)

// BenchmarkAppend: events appended per second, each durable (committed and
// fsynced) when Append returns, from one goroutine and from many at once
// (b.SetParallelism: 16 per GOMAXPROCS, as the DHCP server's event
// writers and the other servers append concurrently).
//
//	go test ./internal/store -run '^$' -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	lease := provision.Event{Node: "compute01", Source: "dhcp", Kind: "lease", MAC: "52:54:00:00:00:01", IP: "10.3.1.40",
		Attrs: map[string]string{"firmware": "bios", "boot_file": "undionly.kpxe"}}
	open := func(b *testing.B) *Store {
		s, err := Open(b.TempDir(), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	b.Run("serial", func(b *testing.B) {
		s := open(b)
		for b.Loop() {
			if _, err := s.Append(lease); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("parallel", func(b *testing.B) {
		s := open(b)
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append(lease); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
