package provision

import (
	"fmt"
	"reflect"
	"strings"
)

// ExplainRow is one line of plan --explain: a value of the node and the
// place in the site file it came from.
type ExplainRow struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	From  string `json:"from"`
}

// Explain says, for each setting of n and each of its addresses, where the
// value came from.
func Explain(p *Plan, n *NodePlan) []ExplainRow {
	var rows []ExplainRow
	add := func(key, val string) {
		rows = append(rows, ExplainRow{Key: key, Value: val, From: n.Sources[key].describe()})
	}
	add("hardware", n.Hardware.Name)
	v := reflect.ValueOf(n.settings)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		add(tomlName(t.Field(i)), settingString(v.Field(i)))
	}
	for _, nw := range p.Networks {
		if a, ok := n.AddressOn(nw.Name); ok {
			add("address."+nw.Name, a.String())
		}
	}
	if n.IDRAC.Address.IsValid() {
		add("idrac", n.IDRAC.Address.String())
	}
	return rows
}

func settingString(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return settingString(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v.Interface())
}
