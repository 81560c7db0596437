package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/pkg/sftp"
	"github.com/provision/provision/internal/hostkeys"
	"github.com/provision/provision/profiles"
	"github.com/provision/provision/provision"
	"golang.org/x/crypto/ssh"
)

// KindOutput is the event kind of a line apply.sh printed.
const KindOutput = "profile-output"

// Keys is what the handoff needs of the key store: *hostkeys.Store.
type Keys interface {
	Appliance() (hostkeys.KeyPair, error)
	HostKeys(node string) ([]hostkeys.KeyPair, error)
}

// Config says how to reach nodes and where to report.
type Config struct {
	Keys   Keys
	Events provision.EventSink
	Log    *slog.Logger
	// Addr returns host:port of a node's sshd; default its management
	// (PXE) address, port 22.
	Addr func(n *provision.NodePlan) string
	// User to log in as; default root.
	User string
	// RemoteDir is where the bundle is uploaded; default
	// /root/provision-profile. It is replaced on every run.
	RemoteDir string
	// RemoteDirFor, when set, gives each node its own RemoteDir (the
	// virtual lab's nodes share the host's file system).
	RemoteDirFor func(n *provision.NodePlan) string
	// Command runs the bundle in RemoteDir; default "exec /bin/bash
	// ./apply.sh". The lab's simulated nodes only check it (bash -n).
	Command string
	// RetryEvery is the pause between two connection attempts while the
	// node boots (default 5 s); DialTimeout bounds one attempt (10 s).
	RetryEvery  time.Duration
	DialTimeout time.Duration
}

// Errors callers test with errors.Is.
var (
	ErrHostKey     = errors.New("host key does not match the key generated for the node")
	ErrUnreachable = errors.New("node's sshd did not answer")
	ErrApply       = errors.New("apply.sh failed")
)

func (c *Config) defaults() {
	if c.Addr == nil {
		c.Addr = func(n *provision.NodePlan) string {
			return net.JoinHostPort(n.PXE.Address.String(), "22")
		}
	}
	if c.User == "" {
		c.User = "root"
	}
	if c.RemoteDir == "" {
		c.RemoteDir = "/root/provision-profile"
	}
	if c.Command == "" {
		c.Command = "exec /bin/bash ./" + path.Base(profiles.ApplyName)
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = 5 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Events == nil {
		c.Events = func(provision.Event) {}
	}
}

// Run hands node its bundle: connect (retrying while the node boots, until
// ctx ends), verify, upload, run apply.sh. It records ssh-up, the output,
// then applied or failed, and returns nil only when apply.sh exited 0.
func Run(ctx context.Context, node *provision.NodePlan, bundle profiles.Bundle, cfg Config) error {
	if cfg.RemoteDirFor != nil {
		cfg.RemoteDir = cfg.RemoteDirFor(node)
	}
	cfg.defaults()
	err := run(ctx, node, bundle, &cfg)
	if err != nil {
		cfg.Events(provision.Event{Node: node.Name, Source: provision.SourceProfile, Kind: provision.KindFailed, Msg: err.Error()})
		return fmt.Errorf("handoff: node %s: %w", node.Name, err)
	}
	cfg.Events(provision.Event{Node: node.Name, Source: provision.SourceProfile, Kind: provision.KindApplied,
		Msg: "role profile applied (" + joinRoles(bundle.Roles) + ")"})
	return nil
}

// Hook adapts Run to the rollout engine's Handoff field: render returns
// the node's bundle.
func Hook(cfg Config, render func(n *provision.NodePlan) (profiles.Bundle, error)) func(context.Context, *provision.NodePlan) error {
	return func(ctx context.Context, n *provision.NodePlan) error {
		b, err := render(n)
		if err != nil {
			return fmt.Errorf("handoff: node %s: %w", n.Name, err)
		}
		return Run(ctx, n, b, cfg)
	}
}

func run(ctx context.Context, node *provision.NodePlan, bundle profiles.Bundle, cfg *Config) error {
	sc, err := clientConfig(node.Name, cfg)
	if err != nil {
		return err
	}
	addr := cfg.Addr(node)
	client, attempts, err := dial(ctx, addr, sc, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	// Cancelling ctx closes the connection, which ends any transfer or
	// command in progress; this goroutine ends when Run returns.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			client.Close()
		case <-done:
		}
	}()
	cfg.Events(provision.Event{Node: node.Name, Source: provision.SourceSSH, Kind: provision.KindSSHUp, IP: hostOf(addr),
		Msg: "sshd answered with the node's host key", Attrs: map[string]string{"attempts": strconv.Itoa(attempts)}})
	cfg.Log.Info("ssh up", "node", node.Name, "addr", addr, "attempts", attempts)
	if err := command(ctx, client, "rm -rf -- "+shellQuote(cfg.RemoteDir)); err != nil {
		return fmt.Errorf("clear %s: %w", cfg.RemoteDir, err)
	}
	if err := upload(client, cfg.RemoteDir, bundle); err != nil {
		return err
	}
	return apply(ctx, client, node.Name, cfg)
}

// clientConfig accepts only the node's generated host keys and offers
// only their algorithms, so the server cannot present another key type.
func clientConfig(node string, cfg *Config) (*ssh.ClientConfig, error) {
	app, err := cfg.Keys.Appliance()
	if err != nil {
		return nil, fmt.Errorf("appliance key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(app.Private)
	if err != nil {
		return nil, fmt.Errorf("appliance key: %w", err)
	}
	pairs, err := cfg.Keys.HostKeys(node)
	if err != nil {
		return nil, err
	}
	var known [][]byte
	var algos []string
	for _, p := range pairs {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(p.Public))
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", p.Type, err)
		}
		known = append(known, pk.Marshal())
		switch pk.Type() {
		case ssh.KeyAlgoRSA:
			// EL6's OpenSSH 5.3 signs host keys with ssh-rsa only.
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, pk.Type())
		}
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("no host keys generated for node %s", node)
	}
	return &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyAlgorithms: algos,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, k := range known {
				if bytes.Equal(k, key.Marshal()) {
					return nil
				}
			}
			return fmt.Errorf("%w: got %s %s", ErrHostKey, key.Type(), ssh.FingerprintSHA256(key))
		},
		Timeout: cfg.DialTimeout,
	}, nil
}

// dial connects, retrying while nothing answers (the node still boots)
// until ctx ends. A wrong host key or a refused login is final.
func dial(ctx context.Context, addr string, sc *ssh.ClientConfig, cfg *Config) (*ssh.Client, int, error) {
	var last error
	for attempt := 1; ; attempt++ {
		c, err := dialOnce(ctx, addr, sc, cfg.DialTimeout)
		if err == nil {
			return c, attempt, nil
		}
		if errors.Is(err, ErrHostKey) || isAuthError(err) {
			return nil, attempt, err
		}
		last = err
		cfg.Log.Debug("ssh not up yet", "addr", addr, "attempt", attempt, "err", err)
		t := time.NewTimer(cfg.RetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, attempt, fmt.Errorf("%w at %s after %d attempts: %v (%v)", ErrUnreachable, addr, attempt, last, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func dialOnce(ctx context.Context, addr string, sc *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The handshake is bounded by the same deadline as the dial.
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, sc)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

func isAuthError(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("unable to authenticate"))
}

// upload writes the bundle under dir over SFTP: apply.sh and files/...,
// the directory 0700 and each file with its mode.
func upload(client *ssh.Client, dir string, b profiles.Bundle) error {
	sc, err := sftp.NewClient(client)
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer sc.Close()
	if err := sc.MkdirAll(dir); err != nil {
		return fmt.Errorf("sftp: mkdir %s: %w", dir, err)
	}
	if err := sc.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("sftp: chmod %s: %w", dir, err)
	}
	for _, f := range b.Tree() {
		p := path.Join(dir, f.Name)
		if err := sc.MkdirAll(path.Dir(p)); err != nil {
			return fmt.Errorf("sftp: mkdir %s: %w", path.Dir(p), err)
		}
		w, err := sc.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("sftp: create %s: %w", p, err)
		}
		// Mode first, so a secret is never readable by others.
		if err := w.Chmod(f.Mode); err != nil {
			w.Close()
			return fmt.Errorf("sftp: chmod %s: %w", p, err)
		}
		if _, err := w.Write(f.Data); err != nil {
			w.Close()
			return fmt.Errorf("sftp: write %s: %w", p, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("sftp: close %s: %w", p, err)
		}
	}
	return nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func joinRoles(r []string) string {
	var b bytes.Buffer
	for i, x := range r {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte(`'\''`))) + "'"
}

// Probe says whether the node's installed system answers: one SSH login
// to it, its host key verified against the one generated for it. Only
// the system the kickstart installed holds that key, so a success proves
// the install finished even when the installer's callback was lost.
func Probe(ctx context.Context, node *provision.NodePlan, cfg Config) error {
	cfg.defaults()
	sc, err := clientConfig(node.Name, &cfg)
	if err != nil {
		return err
	}
	c, err := dialOnce(ctx, cfg.Addr(node), sc, cfg.DialTimeout)
	if err != nil {
		return err
	}
	return c.Close()
}
