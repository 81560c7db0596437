package profiles

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"text/template"

	"github.com/provision/provision/provision"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// File is one file of a bundle, installed by apply.sh at Path.
type File struct {
	Path  string      // absolute path on the node
	Mode  fs.FileMode // permission bits
	Owner string      // user:group; root:root when empty
	// Secret marks a file holding a generated secret, a private key or a
	// password: written 0600 by render, never printed.
	Secret bool
	Data   []byte
}

// Bundle is a node's rendered role profile.
type Bundle struct {
	Node  string
	Roles []string
	// Files in the order apply.sh installs them.
	Files []File
	// Apply is apply.sh.
	Apply []byte
}

// ApplyName is the script's name in the bundle directory.
const ApplyName = "apply.sh"

// FilesDir is the directory under the bundle that mirrors the node's
// file system.
const FilesDir = "files"

// Renderer renders bundles with templates parsed once. It is safe for
// concurrent use.
type Renderer struct {
	t *template.Template
}

// NewRenderer parses the embedded templates.
func NewRenderer() (*Renderer, error) {
	t, err := template.New("profiles").
		Option("missingkey=error").
		Funcs(template.FuncMap{"sq": shellQuote, "join": strings.Join, "mask": mask}).
		ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("profiles: templates: %w", err)
	}
	return &Renderer{t: t}, nil
}

// Render renders node's bundle. Every file is rendered into its own
// buffer first; on error no bundle is returned.
func (r *Renderer) Render(plan *provision.Plan, node *provision.NodePlan, in Inputs) (Bundle, error) {
	v, err := newView(plan, node, in)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Node: node.Name, Roles: append([]string(nil), node.Roles...)}
	for _, f := range v.files() {
		var buf bytes.Buffer
		if err := r.t.ExecuteTemplate(&buf, f.tmpl, v); err != nil {
			// A template error names a field, never its value.
			return Bundle{}, fmt.Errorf("profiles: node %s: %s: %w", node.Name, f.path, err)
		}
		b.Files = append(b.Files, File{Path: f.path, Mode: f.mode, Owner: f.owner, Secret: f.secret, Data: buf.Bytes()})
	}
	// extra files computed in Go (zones, PKI).
	b.Files = append(b.Files, v.extra...)
	v.Installed = b.Files
	var buf bytes.Buffer
	if err := r.t.ExecuteTemplate(&buf, "apply.sh.tmpl", v); err != nil {
		return Bundle{}, fmt.Errorf("profiles: node %s: apply.sh: %w", node.Name, err)
	}
	b.Apply = buf.Bytes()
	return b, nil
}

// File returns the bundle's file installed at path.
func (b Bundle) File(path string) (File, bool) {
	for _, f := range b.Files {
		if f.Path == path {
			return f, true
		}
	}
	return File{}, false
}

// Tree returns the bundle as relative paths to contents and modes, the
// way it is uploaded: apply.sh and files/ABS/PATH.
func (b Bundle) Tree() []TreeFile {
	out := []TreeFile{{Name: ApplyName, Mode: 0o700, Data: b.Apply}}
	for _, f := range b.Files {
		mode := f.Mode
		if f.Secret {
			mode = 0o600
		}
		out = append(out, TreeFile{Name: FilesDir + f.Path, Mode: mode, Data: f.Data, Secret: f.Secret})
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out
}

// TreeFile is one file of an uploaded or written bundle.
type TreeFile struct {
	Name   string // relative, slash-separated
	Mode   fs.FileMode
	Data   []byte
	Secret bool
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
