package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Progress reports a long import step.
type Progress struct {
	Phase string // extract, copy, hash
	Files int    // files done in this phase
	Bytes int64  // bytes done in this phase
	Total int64  // bytes the phase will do, 0 when unknown
	Note  string // xorriso's own progress line while extracting
}

// ImportOptions configure Catalog.Import.
type ImportOptions struct {
	Name  string // tree name, e.g. centos-6.5
	Arch  string // required [general] arch; x86_64 when empty
	Force bool   // replace a tree already imported under Name
	// Xorriso is the xorriso binary for ISO sources; "xorriso" when empty.
	Xorriso string
	// Progress, when set, is called as the import goes, never by two
	// goroutines at once; nil means no reports.
	Progress func(Progress)
	Log      *slog.Logger // nil means no logs
	Now      func() time.Time
}

// Import copies an install tree from src, a directory or an ISO image,
// to Dir/<Name>. It checks the tree's .treeinfo (family, version, arch,
// kernel and initrd), checks the sums the .treeinfo lists, and records the
// sha256 of every boot file in the tree's manifest.
//
// The tree is assembled in a temporary directory beside its final place
// and renamed into place only when complete: after a failure or a
// cancelled ctx (ctrl-C) nothing half-written is left under the name, and
// the temporary directory is removed.
func (c Catalog) Import(ctx context.Context, src string, opt ImportOptions) (m *Manifest, err error) {
	if err := CheckName(opt.Name); err != nil {
		return nil, err
	}
	opt.defaults()
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("import source: %w", err)
	}
	final := filepath.Join(c.Dir, opt.Name)
	if _, err := os.Stat(final); err == nil && !opt.Force {
		return nil, fmt.Errorf("%w: %s is at %s (use --force to replace it)", ErrTreeExists, opt.Name, final)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("install trees: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".import-"+opt.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("install trees: %w", err)
	}
	defer func() {
		// The temporary directory holds the half-built tree on failure and
		// the replaced tree after a forced import: remove it either way.
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", tmp, rerr)
		}
	}()
	stage := filepath.Join(tmp, "tree")
	tiName, err := stageTree(ctx, src, fi, stage, opt)
	if err != nil {
		return nil, err
	}
	m, err = buildManifest(ctx, stage, tiName, opt)
	if err != nil {
		return nil, err
	}
	m.Source = src
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", opt.Name, err)
	}
	if err := writeSynced(filepath.Join(stage, ManifestFile), append(b, '\n')); err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", opt.Name, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("import %s: %w", opt.Name, ctx.Err())
	}
	if err := install(stage, final, opt.Force); err != nil {
		return nil, err
	}
	if err := syncDir(c.Dir); err != nil {
		return nil, err
	}
	opt.Log.Info("imported install tree", "tree", opt.Name, "source", src, "files", m.TreeFiles, "bytes", m.TreeBytes)
	return m, nil
}

func (opt *ImportOptions) defaults() {
	if opt.Arch == "" {
		opt.Arch = "x86_64"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Progress == nil {
		opt.Progress = func(Progress) {}
	}
}

// stageTree extracts or copies src to stage and checks what it got. It
// returns the name of the source's .treeinfo as the operator knows it,
// for error messages.
func stageTree(ctx context.Context, src string, fi fs.FileInfo, stage string, opt ImportOptions) (string, error) {
	tiName := filepath.Join(src, TreeinfoFile)
	var err error
	switch {
	case fi.IsDir():
		err = copyTree(ctx, src, stage, opt.Progress)
	case fi.Mode().IsRegular():
		tiName = src + ":/" + TreeinfoFile
		err = extractISO(ctx, opt.Xorriso, src, stage, fi.Size(), opt.Progress)
	default:
		err = fmt.Errorf("import source %s: neither a directory nor an ISO file", src)
	}
	if err != nil {
		return "", err
	}
	if err := normalize(stage); err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	return tiName, nil
}

// install moves the staged tree to final. A tree already there (force)
// is swapped with it in one renameat2(RENAME_EXCHANGE), so that servers
// see the old tree or the new one, never none; the old one is left at
// stage for the caller to remove. Where the filesystem cannot exchange,
// the old tree is moved aside first.
func install(stage, final string, force bool) error {
	if force {
		err := unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOENT) {
			aside := stage + ".old"
			if err := os.Rename(final, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("replacing %s: %w", final, err)
			}
			if err := os.Rename(stage, final); err != nil {
				// Put the old tree back rather than lose it.
				return errors.Join(fmt.Errorf("installing %s: %w", final, err), os.Rename(aside, final))
			}
			return nil
		}
	}
	if err := os.Rename(stage, final); err != nil {
		return fmt.Errorf("installing %s: %w", final, err)
	}
	return nil
}

// buildManifest parses and checks the staged tree's .treeinfo and hashes
// its boot files. tiName is the .treeinfo as the operator knows it, for
// error messages.
func buildManifest(ctx context.Context, stage, tiName string, opt ImportOptions) (*Manifest, error) {
	root, err := os.OpenRoot(stage)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer root.Close()
	data, err := root.ReadFile(TreeinfoFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: missing: not an install tree", tiName)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tiName, err)
	}
	ti, err := ParseTreeinfo(tiName, data)
	if err != nil {
		return nil, err
	}
	if ti.Arch != opt.Arch {
		return nil, &TreeinfoError{File: tiName, Section: "general", Key: "arch", Msg: fmt.Sprintf("is %q, want %q", ti.Arch, opt.Arch)}
	}
	m := &Manifest{
		Name: opt.Name, Family: ti.Family, Version: ti.Version, Arch: ti.Arch,
		Kernel: ti.Kernel, Initrd: ti.Initrd, Imported: opt.Now().UTC(),
	}
	if m.Files, err = hashBootFiles(ctx, root, ti, tiName, opt); err != nil {
		return nil, err
	}
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m.TreeFiles++
		m.TreeBytes += fi.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", opt.Name, err)
	}
	return m, nil
}

// hashBootFiles hashes the boot files of the staged tree, checks them
// against the .treeinfo's [checksums], and fails when the kernel, initrd
// or repository metadata is missing. Other files the .treeinfo names
// (boot.iso, install.img) may be missing from a trimmed tree: a warning.
func hashBootFiles(ctx context.Context, root *os.Root, ti *Treeinfo, tiName string, opt ImportOptions) ([]FileSum, error) {
	required := map[string]string{
		ti.Kernel: "[images-" + ti.Arch + "] kernel", ti.Initrd: "[images-" + ti.Arch + "] initrd",
		"repodata/repomd.xml": "the repository metadata",
	}
	files := bootFiles(ti)
	var total, done int64
	for _, p := range files {
		if fi, err := root.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	var sums []FileSum
	var errs []error
	for i, p := range files {
		sum, size, err := hashFile(ctx, root, p, func(n int64) {
			done += n
			opt.Progress(Progress{Phase: "hash", Files: i, Bytes: done, Total: total})
		})
		if ctx.Err() != nil {
			return nil, fmt.Errorf("import %s: %w", opt.Name, ctx.Err())
		}
		if errors.Is(err, fs.ErrNotExist) {
			if why, ok := required[p]; ok {
				errs = append(errs, fmt.Errorf("%s: %s names %s, which is not in the tree", tiName, why, p))
			} else {
				opt.Log.Warn("file named by .treeinfo not in the tree", "tree", opt.Name, "file", p, "named_by", ti.Images[p])
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("import %s: %w", opt.Name, err))
			continue
		}
		if want, ok := ti.Checksums[p]; ok && strings.HasPrefix(want, "sha256:") && want != "sha256:"+sum {
			errs = append(errs, fmt.Errorf("%s: [checksums] %s: %s, but the file's sha256 is %s", tiName, p, want, sum))
		}
		sums = append(sums, FileSum{Path: p, Size: size, SHA256: sum})
	}
	return sums, errors.Join(errs...)
}

// normalize makes a staged tree servable and removable: directories
// 0755 and files 0644 (an ISO's are read-only), symlinks only to places
// inside the tree, no device files, sockets or pipes.
func normalize(stage string) error {
	return filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		switch t := d.Type(); {
		case t.IsDir():
			return os.Chmod(p, 0o755)
		case t.IsRegular():
			return os.Chmod(p, 0o644)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) {
				return fmt.Errorf("symlink %s points to absolute path %s", rel, target)
			}
			to := filepath.Join(filepath.Dir(rel), target)
			if !filepath.IsLocal(to) {
				return fmt.Errorf("symlink %s points to %s, outside the tree", rel, target)
			}
			return nil
		default:
			return fmt.Errorf("%s: %s is not a file, directory or symlink", rel, t)
		}
	})
}

// copyTree copies the directory src to dst (which must not exist),
// symlinks as symlinks. normalize checks them afterwards.
func copyTree(ctx context.Context, src, dst string, progress func(Progress)) error {
	var total int64
	if err := filepath.WalkDir(src, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return ctx.Err()
	}); err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	var pr Progress
	pr.Phase, pr.Total = "copy", total
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case t.IsDir():
			return os.Mkdir(to, 0o755)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case t.IsRegular():
			if err := copyFile(ctx, p, to, buf, func(n int64) {
				pr.Bytes += n
				progress(pr)
			}); err != nil {
				return err
			}
			pr.Files++
			progress(pr)
			return nil
		default:
			return fmt.Errorf("%s is not a file, directory or symlink", p)
		}
	})
	if err != nil {
		return fmt.Errorf("importing from %s: %w", src, err)
	}
	return nil
}

func copyFile(ctx context.Context, from, to string, buf []byte, count func(int64)) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, &ctxReader{ctx: ctx, r: in, count: count}, buf); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return out.Close()
}

// writeSynced writes a new file and flushes it to disk.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir flushes a directory, so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
