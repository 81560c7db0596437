package main

import (
	"fmt"
	"io"
	"os"

	"github.com/provision/provision/kickstart"
	"github.com/spf13/cobra"
)

func (a *app) lintCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check kickstarts against what CentOS 6.5's installer accepts",
		Long: `lint checks kickstart files against RHEL 6.5's kickstart syntax (anaconda
13.21.215, pykickstart 1.74.14) and against sense, and prints each problem as
FILE:LINE: message. It needs no site file.

It checks:
  - commands and options: only those RHEL 6.5 knows (network --bondslaves,
    --bondopts and --vlanid came with 6.4, --ipv6gateway with 6.5; --domain is
    6.6; --interfacename, sshkey, %onerror and the like are RHEL 7), option
    values (network --bootproto, IPv4 addresses, raid --device=mdN and
    --level, sizes in whole MiB), zerombr without an argument, single commands
    given twice, and the commands an unattended install cannot do without;
  - sections: %pre, %post, %traceback and %packages, each closed with %end;
  - storage: raid members defined by part raid.ID and used once, physical
    volumes in a volgroup, logvol in a defined volgroup, a RAID level
    possible for its member count, /boot on a plain partition or RAID-1,
    unique mount points, every disk named within ignoredisk --only-use,
    and no autopart beside part/raid/volgroup/logvol;
  - scripts: bash -n on the body of every shell %pre, %post and %traceback.

FILE - reads standard input.

Exit status: 0 when no file has a problem, 1 otherwise.`,
		Example: `  provision lint compute01.ks
  provision render compute01 | provision lint -
  provision lint /srv/provision/ks/*.ks`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			problems, bad := 0, 0
			for _, name := range args {
				data, err := a.readLintFile(name)
				if err != nil {
					return err
				}
				probs, err := kickstart.Lint(cmd.Context(), displayName(name), data)
				if err != nil {
					return err
				}
				for _, p := range probs {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
				if len(probs) > 0 {
					problems += len(probs)
					bad++
				}
			}
			if problems > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d problems in %d of %d files", problems, bad, len(args))}
			}
			return nil
		},
	}
	return cmd
}

func displayName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}

func (a *app) readLintFile(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("lint: standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	return b, nil
}
