package provision

import (
	"reflect"
	"strings"
)

// Built-in defaults, used where neither site, hardware, role nor node says.
func builtinSettings() Settings {
	on := true
	return Settings{
		BootMode:    "bios",
		Loader:      "ipxe",
		RAID:        "software",
		Image:       "centos-6.5",
		PXENIC:      "em1",
		Netboot:     &on,
		SELinux:     "enforcing",
		Firewall:    &on,
		Lang:        "en_US.UTF-8",
		Keyboard:    "us",
		BondMode:    "802.3ad",
		BondOptions: "miimon=100 lacp_rate=fast xmit_hash_policy=layer3+4",
		MTU:         1500,
	}
}

// settingsLayer is one level of the override chain.
type settingsLayer struct {
	src Source
	// path is the key path of the layer's table in the site file, for
	// line numbers ("role.compute", "node[3]").
	path string
	s    *Settings
}

// resolveSettings applies layers in order, later ones overriding earlier
// ones field by field, and records where each value came from, keyed by
// the field's TOML name.
func resolveSettings(pos *positions, layers []settingsLayer) (Settings, map[string]Source) {
	var out Settings
	sources := map[string]Source{}
	ov := reflect.ValueOf(&out).Elem()
	t := ov.Type()
	for _, l := range layers {
		if l.s == nil {
			continue
		}
		lv := reflect.ValueOf(l.s).Elem()
		for i := 0; i < t.NumField(); i++ {
			f := lv.Field(i)
			if f.IsZero() {
				continue
			}
			ov.Field(i).Set(f)
			key := tomlName(t.Field(i))
			src := l.src
			if l.path != "" {
				src.Line = pos.line(l.path + "." + key)
			}
			sources[key] = src
		}
	}
	return out, sources
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "" {
		return f.Name
	}
	return name
}
