package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// setting is one leaf of Config: a field with a yaml or env tag.
type setting struct {
	key       string // YAML path, e.g. "gc.interval" ("" for an environment-only setting)
	flag      string // "" for none
	env       string // MOAT_<FLAG>, or the env tag
	def       string // the default as an operator would write it
	help      string
	unlimited bool // an int that takes -1 for no limit
	index     []int
}

// settings are Config's settings in declaration order; listenerSettings
// those of one listeners: entry.
var (
	settings         = collect(reflect.TypeOf(Config{}), "", nil)
	listenerSettings = collect(reflect.TypeOf(Listener{}), "", nil)
)

func collect(t reflect.Type, prefix string, index []int) []setting {
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		idx := append(slices.Clone(index), i)
		key := f.Tag.Get("yaml")
		if key != "" && prefix != "" {
			key = prefix + "." + key
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, collect(f.Type, key, idx)...)
			continue
		}
		s := setting{key: key, flag: f.Tag.Get("flag"), env: f.Tag.Get("env"), def: f.Tag.Get("default"),
			help: f.Tag.Get("help"), unlimited: f.Tag.Get("unlimited") == "-1", index: idx}
		if s.flag != "" && s.env == "" {
			s.env = "MOAT_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_"))
		}
		out = append(out, s)
	}
	return out
}

// where names a setting for an error message: its key, flag and variable.
func (s setting) where() string {
	var names []string
	if s.key != "" {
		names = append(names, s.key)
	}
	if s.flag != "" {
		names = append(names, "--"+s.flag)
	}
	if s.env != "" {
		names = append(names, s.env)
	}
	return strings.Join(names, " / ")
}

// describe names the setting whose YAML key (or variable) is key.
func describe(key string) string {
	for _, s := range settings {
		if s.key == key || s.env == key {
			return s.where()
		}
	}
	return key
}

// Flags registers the serve flags on fs.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env MOAT_CONFIG)")
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		help := s.help + " (env " + s.env
		if s.def != "" {
			help += "; default " + s.def
		}
		help += ")"
		if fieldType(s).Kind() == reflect.Bool {
			fs.Bool(s.flag, false, help)
		} else {
			fs.String(s.flag, "", help)
		}
	}
}

func fieldType(s setting) reflect.Type { return reflect.TypeOf(Config{}).FieldByIndex(s.index).Type }

// Load builds the configuration from fs (after parsing), the environment and
// the file named by --config or MOAT_CONFIG, and validates it.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	path := source(fs, getenv, "config", "MOAT_CONFIG")
	var raw []byte
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
	}
	return loadFrom(fs, getenv, path, raw)
}

// loadFrom is Load with the file's content read (path "": no file).
func loadFrom(fs *pflag.FlagSet, getenv func(string) string, path string, raw []byte) (Config, error) {
	var doc *yaml.Node
	if path != "" {
		var err error
		if doc, err = parseFile(raw); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	c, err := resolve(fs, getenv, doc, path)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// source returns a flag's value if it was set, else the variable's.
func source(fs *pflag.FlagSet, getenv func(string) string, flag, env string) string {
	if fs != nil && flag != "" {
		if f := fs.Lookup(flag); f != nil && f.Changed {
			return f.Value.String()
		}
	}
	if env == "" {
		return ""
	}
	return getenv(env)
}

// resolve gives every setting its value of the highest precedence: flag,
// variable, file, default.
func resolve(fs *pflag.FlagSet, getenv func(string) string, doc *yaml.Node, path string) (Config, error) {
	var c Config
	root := reflect.ValueOf(&c).Elem()
	for _, s := range settings {
		dst := root.FieldByIndex(s.index)
		if v := source(fs, getenv, s.flag, s.env); v != "" {
			if err := s.setText(dst, v); err != nil {
				return c, fmt.Errorf("%s %q: %v", s.where(), v, err)
			}
			continue
		}
		if n := lookup(doc, s.key); n != nil {
			if err := s.setNode(dst, n); err != nil {
				var e *entryError
				if errors.As(err, &e) {
					return c, fmt.Errorf("config file %s: %v", path, e)
				}
				return c, fmt.Errorf("config file %s: line %d: %s: %v", path, n.Line, s.where(), err)
			}
			continue
		}
		if err := s.setText(dst, s.def); err != nil {
			return c, fmt.Errorf("the default of %s %q: %v", s.where(), s.def, err)
		}
	}
	return c, nil
}
