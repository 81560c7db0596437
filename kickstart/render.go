package kickstart

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/provision/provision/provision"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// heredoc ends every file %post writes. Nothing rendered into a file may
// be a line equal to it.
const heredoc = "PROVISION_EOF"

// Renderer renders kickstarts with templates parsed once. It is safe for
// concurrent use.
type Renderer struct {
	t *template.Template
}

// NewRenderer parses the embedded templates.
func NewRenderer() (*Renderer, error) {
	t, err := template.New("kickstart").
		Option("missingkey=error").
		Funcs(template.FuncMap{"sq": shellQuote, "join": strings.Join}).
		ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("kickstart: templates: %w", err)
	}
	return &Renderer{t: t}, nil
}

// defaultRenderer is parsed on first use of Render. It is written once and
// only read afterwards, like a constant that cannot be a Go constant.
var defaultRenderer = sync.OnceValues(NewRenderer)

// Render renders the kickstart of node, using the embedded templates.
func Render(plan *provision.Plan, node *provision.NodePlan, in Inputs) ([]byte, error) {
	r, err := defaultRenderer()
	if err != nil {
		return nil, err
	}
	return r.Render(plan, node, in)
}

// Render renders the kickstart of node into a buffer and returns it; on
// error nothing is returned, so no half kickstart is ever served.
func (r *Renderer) Render(plan *provision.Plan, node *provision.NodePlan, in Inputs) ([]byte, error) {
	v, err := newView(plan, node, in)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(v.size())
	if err := r.t.ExecuteTemplate(&buf, "kickstart.ks.tmpl", v); err != nil {
		// A template error names a field, never its value.
		return nil, fmt.Errorf("kickstart: node %s: %w", node.Name, err)
	}
	return buf.Bytes(), nil
}

// templateBytes bounds what the templates add to the view's prepared
// text: their own text and the short fields.
const templateBytes = 6 << 10

// size estimates the kickstart's length, so its buffer is allocated once.
func (v *view) size() int {
	return templateBytes + len(v.NetFiles) + len(v.SysFiles) + len(v.KeyFiles) + len(v.DiskChecks) +
		len(v.NICChecks) + len(v.SwiftScript) + len(v.DiskComments) + len(v.PartLines) + len(v.PackageLines)
}

// view is everything the templates read, worked out in Go so the
// templates only lay it out.
type view struct {
	Node       *provision.NodePlan
	Site       provision.SitePlan
	Roles      string
	TreeURL    string
	RootHash   string
	Net        installNet
	Layout     layout
	DriveOrder string
	BootAppend string
	Firewall   string
	SELinux    string
	Services   string
	NICs       []provision.NIC
	// NetFiles, SysFiles and KeyFiles are the shell that writes each
	// group of files (see writeFiles).
	NetFiles string
	SysFiles string
	KeyFiles string
	// DiskChecks, NICChecks and SwiftScript are shell lines of %pre and
	// %post, built in Go for the same reason.
	DiskChecks string
	// DiskComments, PartLines and PackageLines are kickstart lines, each
	// ending in a newline.
	DiskComments string
	PartLines    string
	PackageLines string
	NICChecks    string
	SwiftScript  string
	EventsURL    string
	LogsURL      string
	MaxLogBytes  int
	Token        string
}

func newView(plan *provision.Plan, node *provision.NodePlan, in Inputs) (*view, error) {
	if node.Appliance {
		return nil, fmt.Errorf("node %s: %w", node.Name, ErrAppliance)
	}
	if in.RootPasswordHash.IsZero() && !in.Redact {
		return nil, fmt.Errorf("node %s: root password hash: %w", node.Name, ErrMissingInput)
	}
	if in.Token.IsZero() && !in.Redact {
		return nil, fmt.Errorf("node %s: callback token: %w", node.Name, ErrMissingInput)
	}
	net, err := installNetwork(plan, node)
	if err != nil {
		return nil, err
	}
	l, err := layoutFor(node)
	if err != nil {
		return nil, err
	}
	netFiles, err := networkFiles(node)
	if err != nil {
		return nil, err
	}
	keyFiles, err := keyFiles(node, in)
	if err != nil {
		return nil, err
	}
	selinux, firewall, err := securityOptions(node)
	if err != nil {
		return nil, err
	}
	tree := in.TreePath
	if tree == "" {
		tree = DefaultTreePath(node.Image)
	}
	bootArgs := append([]string{"biosdevname=1"}, consoleArgs(node.Console)...)
	return &view{
		Node:         node,
		Site:         plan.Site,
		Roles:        strings.Join(node.Roles, ", "),
		TreeURL:      strings.TrimRight(plan.Site.ApplianceURL, "/") + "/" + strings.TrimLeft(tree, "/"),
		RootHash:     in.reveal(in.RootPasswordHash),
		Net:          net,
		Layout:       l,
		DriveOrder:   strings.Join(l.OSDevices, ","),
		BootAppend:   strings.Join(bootArgs, " "),
		Firewall:     firewall,
		SELinux:      selinux,
		Services:     strings.Join(services(l), ","),
		NICs:         node.Hardware.NICs,
		NetFiles:     writeFiles(netFiles),
		DiskChecks:   diskChecks(l.Devices),
		DiskComments: diskComments(l.Devices),
		PartLines:    lines(l.Parts),
		PackageLines: lines(packages(node, l)),
		NICChecks:    nicChecks(node.Hardware.NICs),
		SwiftScript:  swiftScript(l.Swift),
		SysFiles:     writeFiles(sysFiles(plan, node)),
		KeyFiles:     writeFiles(keyFiles),
		EventsURL:    EventsURL(plan, node),
		LogsURL:      LogsURL(plan, node),
		MaxLogBytes:  MaxLogBytes,
		Token:        in.reveal(in.Token),
	}, nil
}

func securityOptions(node *provision.NodePlan) (selinux, firewall string, err error) {
	switch node.SELinux {
	case "enforcing", "permissive", "disabled":
		selinux = "--" + node.SELinux
	default:
		return "", "", fmt.Errorf("node %s: selinux %q: %w", node.Name, node.SELinux, ErrUnsupported)
	}
	firewall = "--disabled"
	if node.Firewall {
		// The SSH handoff is the one way in until the profile opens more.
		firewall = "--enabled --service=ssh"
	}
	return selinux, firewall, nil
}

// sysFiles are /etc/hosts, resolv.conf and the NTP configuration, all
// pointing at the appliance.
func sysFiles(plan *provision.Plan, node *provision.NodePlan) []file {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n")
	hosts.WriteString("::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n")
	fmt.Fprintf(&hosts, "%-11s %s %s\n", node.PXE.Address, node.FQDN, node.Name)
	if app, ok := plan.Node(plan.Site.Appliance); ok && plan.Site.ApplianceAddr.IsValid() {
		fmt.Fprintf(&hosts, "%-11s %s %s\n", plan.Site.ApplianceAddr, app.FQDN, app.Name)
	}
	var resolv strings.Builder
	if plan.Site.Domain != "" {
		fmt.Fprintf(&resolv, "search %s\n", plan.Site.Domain)
	}
	for _, d := range node.DNS {
		fmt.Fprintf(&resolv, "nameserver %s\n", d)
	}
	var ntp, steps strings.Builder
	ntp.WriteString("# Time comes from the appliance only (paper section 3: admin01 is the NTP source).\n" +
		"driftfile /var/lib/ntp/drift\n" +
		"restrict default kod nomodify notrap nopeer noquery\n" +
		"restrict -6 default kod nomodify notrap nopeer noquery\n" +
		"restrict 127.0.0.1\nrestrict -6 ::1\n")
	for _, s := range node.NTP {
		fmt.Fprintf(&ntp, "server %s iburst\n", s)
		fmt.Fprintf(&steps, "%s\n", s)
	}
	return []file{
		{Path: "/etc/hosts", Mode: "0644", Content: hosts.String()},
		{Path: "/etc/resolv.conf", Mode: "0644", Content: resolv.String()},
		{Path: "/etc/ntp.conf", Mode: "0644", Content: ntp.String()},
		{Path: "/etc/ntp/step-tickers", Mode: "0644", Content: steps.String()},
	}
}

// keyFiles are the node's SSH host keys and root's authorized_keys.
func keyFiles(node *provision.NodePlan, in Inputs) ([]file, error) {
	var out []file
	for _, k := range in.HostKeys {
		if k.Type != "rsa" && k.Type != "ecdsa" {
			return nil, fmt.Errorf("node %s: host key type %q: %w (EL6 OpenSSH 5.3 takes rsa or ecdsa)", node.Name, k.Type, ErrUnsupported)
		}
		priv := in.reveal(k.Private)
		if !in.Redact && !strings.Contains(priv, "PRIVATE KEY") {
			return nil, fmt.Errorf("node %s: %s host key: %w: not a PEM private key", node.Name, k.Type, ErrMissingInput)
		}
		base := "/etc/ssh/ssh_host_" + k.Type + "_key"
		out = append(out,
			file{Path: base, Mode: "0600", Content: withNewline(priv)},
			file{Path: base + ".pub", Mode: "0644", Content: withNewline(k.Public)})
	}
	var ak strings.Builder
	for _, k := range in.AuthorizedKeys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if strings.ContainsAny(k, "\n\r") {
			return nil, fmt.Errorf("node %s: an authorized key spans lines: %w", node.Name, ErrMissingInput)
		}
		ak.WriteString(k + "\n")
	}
	if ak.Len() == 0 {
		return nil, fmt.Errorf("node %s: authorized keys (root would be unreachable): %w", node.Name, ErrMissingInput)
	}
	out = append(out, file{Path: "/root/.ssh/authorized_keys", Mode: "0600", Content: ak.String()})
	for _, f := range out {
		if strings.Contains("\n"+f.Content, "\n"+heredoc+"\n") {
			return nil, fmt.Errorf("node %s: %s holds the here-document delimiter", node.Name, f.Path)
		}
	}
	return out, nil
}

// writeFiles is the %post shell that writes files: each through a quoted
// here document, then its mode. It is built here rather than in a template
// because a template call per file made up half of the rendering time.
func writeFiles(files []file) string {
	n := 0
	for _, f := range files {
		n += len(f.Content) + 2*len(f.Path) + 64
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range files {
		b.WriteString("cat > " + f.Path + " <<'" + heredoc + "'\n")
		b.WriteString(f.Content)
		b.WriteString(heredoc + "\nchmod " + f.Mode + " " + f.Path + "\n")
	}
	return b.String()
}

// lines joins lines, each ending in a newline.
func lines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// diskComments say which disk is which, for a person reading the kickstart.
func diskComments(devs []device) string {
	var b strings.Builder
	for _, d := range devs {
		b.WriteString("#   " + d.Dev + ": " + d.What + "\n")
	}
	return b.String()
}

// diskChecks are %pre's check_disk calls, one per expected disk.
func diskChecks(devs []device) string {
	var b strings.Builder
	for _, d := range devs {
		b.WriteString("check_disk " + d.Dev + " " + strconv.FormatInt(d.MinSectors, 10) + " " +
			strconv.FormatInt(d.MaxSectors, 10) + " " + shellQuote(d.What) + "\n")
	}
	return b.String()
}

// nicChecks are %pre's check_nic calls, with the MAC when the plan knows it.
func nicChecks(nics []provision.NIC) string {
	var b strings.Builder
	for _, n := range nics {
		b.WriteString("check_nic " + n.Name)
		if n.MAC != "" {
			b.WriteString(" " + shellQuote(n.MAC))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// swiftScript formats each Swift disk as XFS with 512-byte inodes (room
// for Swift's extended attributes), labels it and mounts it by label.
func swiftScript(disks []swiftDisk) string {
	var b strings.Builder
	for _, d := range disks {
		b.WriteString("mkfs.xfs -f -i size=512 -L " + d.Label + " /dev/" + d.Dev + "\n")
		b.WriteString("install -d -m 0755 " + d.Mount + "\n")
		b.WriteString("echo 'LABEL=" + d.Label + " " + d.Mount + " xfs noatime,nodiratime,logbufs=8,nofail 0 0' >> /etc/fstab\n")
	}
	return b.String()
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// shellQuote quotes s for a POSIX shell: 'it'\”s'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
