package bmc

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/provision/provision/internal/idracsim"
)

// BenchmarkRack runs what a rollout asks of every iDRAC of the paper's
// 27-node rack: discover the MACs, set one-time PXE, power cycle, eight
// iDRACs at a time as the CLI does, each over its own TLS connection
// with a Redfish session.
func BenchmarkRack(b *testing.B) {
	for _, sessions := range []bool{true, false} {
		b.Run(fmt.Sprintf("sessions=%v", sessions), func(b *testing.B) {
			var cfgs []idracsim.Config
			for i := range 27 {
				cfgs = append(cfgs, idracsim.Config{Node: fmt.Sprintf("node%02d", i+1), User: testUser, Password: testPass, PoweredOn: true})
			}
			fleet := idracsim.NewFleet("127.0.0.1", 0, cfgs)
			if err := fleet.Listen(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- fleet.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			var clients []*Client
			for _, srv := range fleet.Servers {
				cfg := testConfig(srv)
				cfg.Sessions = sessions
				clients = append(clients, newClient(b, cfg))
			}
			b.ResetTimer()
			for b.Loop() {
				sem := make(chan struct{}, 8)
				var wg sync.WaitGroup
				for _, c := range clients {
					wg.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						if _, err := c.Discover(ctx, r620NICs()); err != nil {
							b.Error(err)
						}
						if err := c.PXE(ctx, "Legacy"); err != nil {
							b.Error(err)
						}
						if err := c.Power(ctx, Cycle); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/27, "ms/node")
			reqs := 0
			for _, srv := range fleet.Servers {
				reqs += srv.Sim.Requests()
			}
			b.ReportMetric(float64(reqs)/float64(b.N)/27, "requests/node")
			for _, srv := range fleet.Servers {
				if n := srv.Sim.Sessions(); n != 0 {
					b.Errorf("%s: %d sessions left", srv.Sim.Node(), n)
				}
			}
		})
	}
}
