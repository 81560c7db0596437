package images

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// TreeinfoFile is where an install tree describes itself.
const TreeinfoFile = ".treeinfo"

// maxTreeinfo bounds the .treeinfo read: a real one is about 1 KiB.
const maxTreeinfo = 1 << 20

// Treeinfo is what an install tree's .treeinfo says about it: the
// distribution and the boot files of one architecture.
type Treeinfo struct {
	Family  string // CentOS
	Version string // 6.5
	Arch    string // x86_64
	Variant string
	// Kernel and Initrd are the PXE boot files of Arch, from
	// [images-<arch>], relative to the tree's root.
	Kernel string
	Initrd string
	// Images are every file named by an [images-*] section, keyed by
	// path, the value naming the section and key ("images-x86_64 boot.iso").
	Images map[string]string
	// Stage2 is the installer's second stage ([stage2] mainimage).
	Stage2 string
	// Checksums are the [checksums] section: path to "sha256:<hex>".
	Checksums map[string]string
}

// TreeinfoError is one problem of a .treeinfo, with the file, line and
// key a person needs to find it.
type TreeinfoError struct {
	File    string
	Line    int    // 0 when the problem is a missing section or key
	Section string // without brackets
	Key     string
	Msg     string
}

func (e *TreeinfoError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	switch {
	case e.Section != "" && e.Key != "":
		fmt.Fprintf(&b, "[%s] %s: ", e.Section, e.Key)
	case e.Section != "":
		fmt.Fprintf(&b, "[%s]: ", e.Section)
	case e.Key != "":
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrTreeinfo is matched by every TreeinfoError with errors.Is.
var ErrTreeinfo = errors.New("invalid .treeinfo")

// Is makes errors.Is(err, ErrTreeinfo) true for a TreeinfoError.
func (e *TreeinfoError) Is(target error) bool { return target == ErrTreeinfo }

// iniValue is a value and the line it was set on.
type iniValue struct {
	val  string
	line int
}

type iniFile struct {
	name     string
	sections map[string]map[string]iniValue
	lines    map[string]int      // line of each section header
	order    []string            // sections in file order
	keys     map[string][]string // keys of each section in file order
}

func (f *iniFile) get(section, key string) (iniValue, bool) {
	v, ok := f.sections[section][key]
	return v, ok
}

// parseINI reads the Python ConfigParser dialect anaconda and productmd
// write: [section] headers, "key = value" or "key: value", comments
// starting with # or ;, continuation lines indented. Keys are lower-cased
// as ConfigParser does. Every problem is reported, not only the first.
func parseINI(name string, data []byte) (*iniFile, error) {
	f := &iniFile{name: name, sections: map[string]map[string]iniValue{}, lines: map[string]int{}, keys: map[string][]string{}}
	var errs []error
	bad := func(line int, section, key, format string, args ...any) {
		errs = append(errs, &TreeinfoError{File: name, Line: line, Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTreeinfo)
	section, lastKey := "", ""
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		if strings.ContainsRune(raw, 0) {
			bad(n, section, "", "NUL byte in line")
			continue
		}
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case line[0] == ' ' || line[0] == '\t':
			// A continuation line extends the previous value.
			if section == "" || lastKey == "" {
				bad(n, section, "", "indented line %q continues no key", trimmed)
				continue
			}
			v := f.sections[section][lastKey]
			v.val = strings.TrimSpace(v.val + "\n" + trimmed)
			f.sections[section][lastKey] = v
		case trimmed[0] == '[':
			if !strings.HasSuffix(trimmed, "]") || len(trimmed) < 3 {
				bad(n, "", "", "malformed section header %q", trimmed)
				section, lastKey = "", ""
				continue
			}
			section, lastKey = strings.TrimSpace(trimmed[1:len(trimmed)-1]), ""
			if _, dup := f.sections[section]; dup {
				bad(n, section, "", "section repeated (first on line %d)", f.lines[section])
				continue
			}
			f.sections[section] = map[string]iniValue{}
			f.lines[section] = n
			f.order = append(f.order, section)
		default:
			i := strings.IndexAny(trimmed, "=:")
			if i <= 0 {
				bad(n, section, "", "line %q is not \"key = value\"", trimmed)
				continue
			}
			key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
			val := strings.TrimSpace(trimmed[i+1:])
			if section == "" {
				bad(n, "", key, "key before the first [section]")
				continue
			}
			if prev, dup := f.sections[section][key]; dup {
				bad(n, section, key, "key repeated (first on line %d)", prev.line)
				continue
			}
			f.sections[section][key] = iniValue{val: val, line: n}
			f.keys[section] = append(f.keys[section], key)
			lastKey = key
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return f, errors.Join(errs...)
}

// ParseTreeinfo parses and checks a .treeinfo read from name (used in
// errors). It requires [general] family, version and arch, and the kernel
// and initrd of [images-<arch>], as relative paths inside the tree. Every
// problem found is returned, joined; each is a *TreeinfoError.
func ParseTreeinfo(name string, data []byte) (*Treeinfo, error) {
	if len(data) > maxTreeinfo {
		return nil, &TreeinfoError{File: name, Msg: fmt.Sprintf("%d bytes, more than the %d a .treeinfo can be", len(data), maxTreeinfo)}
	}
	f, err := parseINI(name, data)
	if err != nil {
		return nil, err
	}
	var errs []error
	missing := func(section, key string) {
		errs = append(errs, &TreeinfoError{File: name, Line: f.lines[section], Section: section, Key: key, Msg: "missing"})
	}
	noSection := map[string]bool{}
	require := func(section, key string) string {
		if _, ok := f.sections[section]; !ok {
			if !noSection[section] {
				errs = append(errs, &TreeinfoError{File: name, Section: section, Msg: "section missing"})
				noSection[section] = true
			}
			return ""
		}
		v, ok := f.get(section, key)
		if !ok || v.val == "" {
			missing(section, key)
			return ""
		}
		return v.val
	}
	ti := &Treeinfo{Images: map[string]string{}, Checksums: map[string]string{}}
	ti.Family = require("general", "family")
	ti.Version = require("general", "version")
	ti.Arch = require("general", "arch")
	ti.Variant = f.sections["general"]["variant"].val
	if ti.Arch != "" {
		sec := "images-" + ti.Arch
		ti.Kernel = require(sec, "kernel")
		ti.Initrd = require(sec, "initrd")
	}
	checkPath := func(section, key string, v iniValue) bool {
		if err := treePath(v.val); err != nil {
			errs = append(errs, &TreeinfoError{File: name, Line: v.line, Section: section, Key: key, Msg: err.Error()})
			return false
		}
		return true
	}
	for _, section := range f.order {
		if !strings.HasPrefix(section, "images-") {
			continue
		}
		for _, key := range f.keys[section] {
			v := f.sections[section][key]
			if _, seen := ti.Images[v.val]; !seen && checkPath(section, key, v) {
				ti.Images[v.val] = section + " " + key
			}
		}
	}
	if v, ok := f.get("stage2", "mainimage"); ok && checkPath("stage2", "mainimage", v) {
		ti.Stage2 = v.val
		ti.Images[v.val] = "stage2 mainimage"
	}
	for _, key := range f.keys["checksums"] {
		v := f.sections["checksums"][key]
		if !checkPath("checksums", key, iniValue{val: key, line: v.line}) {
			continue
		}
		if err := checkSum(v.val); err != nil {
			errs = append(errs, &TreeinfoError{File: name, Line: v.line, Section: "checksums", Key: key, Msg: err.Error()})
			continue
		}
		ti.Checksums[key] = v.val
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return ti, nil
}

// treePath checks that p names a file inside an install tree.
func treePath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute; it must be relative to the tree", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("path %q has a backslash or NUL", p)
	case !fs.ValidPath(p) || p == ".":
		return fmt.Errorf("path %q is not a clean relative path inside the tree", p)
	}
	return nil
}

// checkSum checks a [checksums] value. sha256 sums are verified on
// import; other algorithms are accepted and ignored.
func checkSum(v string) error {
	alg, sum, ok := strings.Cut(v, ":")
	if !ok || alg == "" || sum == "" {
		return fmt.Errorf("checksum %q is not \"algorithm:hex\"", v)
	}
	if alg != "sha256" {
		return nil
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return fmt.Errorf("sha256 %q is not 64 hex digits", sum)
	}
	return nil
}

// sortErrors orders problems by line, then section and key, so a report
// reads top to bottom whatever the map order.
func sortErrors(errs []error) {
	key := func(err error) (int, string) {
		var te *TreeinfoError
		if errors.As(err, &te) {
			return te.Line, te.Section + "\x00" + te.Key + "\x00" + te.Msg
		}
		return 0, err.Error()
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		la, sa := key(a)
		lb, sb := key(b)
		if la != lb {
			return cmp.Compare(la, lb)
		}
		return strings.Compare(sa, sb)
	})
}
