package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provision/provision/images"
	"github.com/spf13/cobra"
)

func (a *app) imagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Manage the boot image catalog: boot loaders and install trees",
		Long: `images manages what the appliance boots nodes with: the boot loaders (iPXE and
pxelinux, found where Debian or EL installs them, or given with --loader) and
the CentOS install trees under STATE/images/<name>/, imported from the DVD ISO
or a directory.`,
	}
	cmd.AddCommand(a.imagesImportCmd(), a.imagesListCmd(), a.imagesVerifyCmd())
	return cmd
}

func (a *app) catalog() images.Catalog {
	return images.Catalog{Dir: filepath.Join(a.state, "images")}
}

func (a *app) imagesImportCmd() *cobra.Command {
	var opt images.ImportOptions
	cmd := &cobra.Command{
		Use:   "import ISO-or-DIR --name NAME",
		Short: "Import an install tree from an ISO image or a directory",
		Long: `import copies an install tree (the CentOS 6.5 x86_64 DVD, or a directory with its
content) to STATE/images/NAME/. It checks the tree's .treeinfo (family, version,
arch; the kernel and initrd of [images-x86_64]) and the sums it lists, and
records the sha256 of every boot file, which 'images verify' checks later.
An ISO is read with xorriso.

The tree is assembled beside its final place and renamed into place only when
complete: on an error or ctrl-C nothing is left half-written.`,
		Example: `  provision images import CentOS-6.5-x86_64-bin-DVD1.iso --name centos-6.5
  provision images import /mnt/centos --name centos-6.5 --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Log = a.log
			opt.Progress = progressPrinter(a.stderr, time.Now)
			m, err := a.catalog().Import(cmd.Context(), args[0], opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "imported %s: %s %s %s, %d files, %s, kernel %s, initrd %s\n",
				m.Name, m.Family, m.Version, m.Arch, m.TreeFiles, mib(m.TreeBytes), m.Kernel, m.Initrd)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Name, "name", "", "name of the tree, as the site's image setting names it (e.g. centos-6.5)")
	f.StringVar(&opt.Arch, "arch", "x86_64", "architecture the .treeinfo must declare")
	f.BoolVar(&opt.Force, "force", false, "replace a tree already imported under the name")
	f.StringVar(&opt.Xorriso, "xorriso", "xorriso", "xorriso binary, for ISO images")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// progressPrinter prints a long import's progress to w at most once a
// second, and once when a phase ends.
func progressPrinter(w io.Writer, now func() time.Time) func(images.Progress) {
	var last time.Time
	var lastPhase string
	return func(p images.Progress) {
		t := now()
		if p.Phase == lastPhase && t.Sub(last) < time.Second {
			return
		}
		last, lastPhase = t, p.Phase
		switch {
		case p.Note != "":
			fmt.Fprintf(w, "%s: %s\n", p.Phase, p.Note)
		case p.Total > 0:
			fmt.Fprintf(w, "%s: %s of %s (%d%%), %d files\n", p.Phase, mib(p.Bytes), mib(p.Total), p.Bytes*100/p.Total, p.Files)
		default:
			fmt.Fprintf(w, "%s: %s, %d files\n", p.Phase, mib(p.Bytes), p.Files)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (a *app) imagesListCmd() *cobra.Command {
	var asJSON, all bool
	var paths map[string]string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the boot loaders found and the install trees imported",
		Long: `list shows the boot loaders the TFTP server would hand out (the required ones,
and with --all every pxelinux module too), the required ones that are missing
and where they were looked for, and the install trees under STATE/images.`,
		Example: `  provision images list
  provision images list --loader undionly.kpxe=/srv/ipxe/undionly.kpxe --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaders, err := images.FindLoaders(images.LoaderConfig{Paths: paths})
			if err != nil {
				return err
			}
			cat := a.catalog()
			trees, err := cat.List()
			if err != nil {
				return err
			}
			if asJSON {
				return printImagesJSON(a.stdout, loaders, trees)
			}
			printImages(a.stdout, cat, loaders, trees, all)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print as JSON")
	f.BoolVar(&all, "all", false, "list every pxelinux module, not only the required loaders")
	f.StringToStringVar(&paths, "loader", nil, "a loader's file, NAME=PATH (repeatable); wins over the distribution's")
	return cmd
}

func printImages(w io.Writer, cat images.Catalog, l *images.Loaders, trees []images.Tree, all bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOADER\tSIZE\tPATH")
	required := images.RequiredLoaders()
	others := 0
	for _, f := range l.Files {
		if !all && !slices.Contains(required, f.Name) {
			others++
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Name, f.Size, f.Path)
	}
	for _, n := range required {
		if tried, ok := l.Missing[n]; ok {
			fmt.Fprintf(tw, "%s\tmissing\tlooked in %s\n", n, strings.Join(tried, ", "))
		}
	}
	tw.Flush()
	if others > 0 {
		fmt.Fprintf(w, "and %d more pxelinux modules (--all lists them)\n", others)
	}
	fmt.Fprintln(w)
	if len(trees) == 0 {
		fmt.Fprintf(w, "no install trees in %s; import one with 'provision images import ISO --name centos-6.5'\n", cat.Dir)
	} else {
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TREE\tDISTRIBUTION\tFILES\tSIZE\tIMPORTED\tSOURCE")
		for _, t := range trees {
			if t.Err != nil {
				fmt.Fprintf(tw, "%s\tbroken: %v\t\t\t\t\n", t.Name, t.Err)
				continue
			}
			m := t.Manifest
			fmt.Fprintf(tw, "%s\t%s %s %s\t%d\t%s\t%s\t%s\n", t.Name, m.Family, m.Version, m.Arch,
				m.TreeFiles, mib(m.TreeBytes), m.Imported.Format(time.RFC3339), m.Source)
		}
		tw.Flush()
	}
	for _, d := range cat.Leftovers() {
		fmt.Fprintf(w, "leftover of an interrupted import: %s (safe to remove when no import runs)\n", d)
	}
}

func printImagesJSON(w io.Writer, l *images.Loaders, trees []images.Tree) error {
	type tree struct {
		Name     string           `json:"name"`
		Manifest *images.Manifest `json:"manifest,omitempty"`
		Error    string           `json:"error,omitempty"`
	}
	out := struct {
		Loaders []images.Loader     `json:"loaders"`
		Missing map[string][]string `json:"missing_loaders"`
		Trees   []tree              `json:"trees"`
	}{Loaders: l.Files, Missing: l.Missing, Trees: []tree{}}
	for _, t := range trees {
		tt := tree{Name: t.Name, Manifest: t.Manifest}
		if t.Err != nil {
			tt.Error = t.Err.Error()
		}
		out.Trees = append(out.Trees, tt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (a *app) imagesVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [NAME...]",
		Short: "Re-hash the boot files of install trees and report mismatches",
		Long: `verify re-hashes the boot files of the named install trees (every tree when none
is named) and compares them with the sha256 recorded at import.

Exit status: 0 when every file matches, 1 otherwise.`,
		Example: `  provision images verify
  provision images verify centos-6.5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := a.catalog()
			names := args
			if len(names) == 0 {
				trees, err := cat.List()
				if err != nil {
					return err
				}
				for _, t := range trees {
					names = append(names, t.Name)
				}
				if len(names) == 0 {
					return exitError{code: 1, msg: "no install trees in " + cat.Dir}
				}
			}
			failed := 0
			for _, n := range names {
				bad, err := cat.Verify(cmd.Context(), n)
				switch {
				case err != nil && cmd.Context().Err() != nil:
					return err
				case err != nil:
					fmt.Fprintf(a.stdout, "%s: %v\n", n, err)
					failed++
				case len(bad) > 0:
					for _, m := range bad {
						fmt.Fprintln(a.stdout, m.String())
					}
					failed++
				default:
					fmt.Fprintf(a.stdout, "%s: ok\n", n)
				}
			}
			if failed > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d of %d install trees do not match their manifest", failed, len(names))}
			}
			return nil
		},
	}
}
