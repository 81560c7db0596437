package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/provision/provision/profiles"
	"github.com/spf13/cobra"
)

func (a *app) vpnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vpn",
		Short: "The appliance's OpenVPN server: issue client configurations",
	}
	cmd.AddCommand(a.vpnClientCmd())
	return cmd
}

func (a *app) vpnClientCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "client NAME",
		Short: "Issue a client certificate and write NAME.ovpn",
		Long: `vpn client issues a certificate for NAME from the appliance's OpenVPN CA (kept
in the state directory, made there on first use) and writes a client
configuration with the CA, the certificate, its private key and the tls-crypt
key inline: one file to hand to the person, mode 0600. The client key is not
kept on the appliance. A name is issued once; an existing file is never
overwritten.`,
		Example: `  provision vpn client alice
  provision vpn client bob --out /root/bob.ovpn`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if out == "" {
				out = name + ".ovpn"
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("vpn client %s: %s exists: not overwritten", name, out)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("vpn client %s: %w", name, err)
			}
			plan, err := a.loadPlan()
			if err != nil {
				return err
			}
			now := time.Now()
			pki, err := profiles.OpenPKI(a.state, plan.Site.Name, now)
			if err != nil {
				return fmt.Errorf("state %s: %w", a.state, err)
			}
			cert, key, err := pki.Client(name, now)
			if err != nil {
				return err
			}
			conf, err := profiles.ClientConfig(plan, pki.Server(), cert, key)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("vpn client %s: %w", name, err)
			}
			if _, err := f.Write(conf); err != nil {
				f.Close()
				return fmt.Errorf("vpn client %s: write %s: %w", name, out, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("vpn client %s: write %s: %w", name, out, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			a.log.Info("vpn client issued", "client", name, "file", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the configuration to `FILE` (default NAME.ovpn)")
	return cmd
}
