package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/config"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// object is the part of a Kubernetes object these checks read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       struct {
		Ports []struct {
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Spec struct {
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name      string         `yaml:"name"`
					ConfigMap map[string]any `yaml:"configMap"`
					Secret    map[string]any `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args []string `yaml:"args"`
	Env  []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct{ Path, Port, Scheme string } `yaml:"httpGet"`
}

// TestKubernetesManifests checks that deploy/kubernetes hangs together
// (there is no cluster here): every file parses, the kustomization lists
// them, the ConfigMap's moat.yaml is a configuration moat accepts, and the
// Deployment's ports, probes, volumes and secret references match it.
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	byKind := map[string][]object{}
	var listed []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", filepath.Base(f), err)
			}
			if o.APIVersion == "" || o.Kind == "" {
				t.Fatalf("%s: an object without apiVersion or kind", filepath.Base(f))
			}
			if o.Kind == "Kustomization" {
				listed = o.Resources
				continue
			}
			if o.Metadata.Name == "" || (o.Kind != "Namespace" && o.Metadata.Namespace != "moat") {
				t.Fatalf("%s: %s %q must be named and in namespace moat", filepath.Base(f), o.Kind, o.Metadata.Name)
			}
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	for _, f := range files {
		base := filepath.Base(f)
		want := base != "kustomization.yaml" && base != "secrets.example.yaml"
		if want != slices.Contains(listed, base) {
			t.Errorf("kustomization.yaml resources %v: listing %s should be %v", listed, base, want)
		}
	}

	one := func(kind string) object {
		if len(byKind[kind]) == 0 {
			t.Fatalf("no %s in deploy/kubernetes", kind)
		}
		return byKind[kind][0]
	}
	cm, dep, secret := one("ConfigMap"), one("Deployment"), one("Secret")

	// The configuration loads as `moat serve --config` would load it.
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(cfgFile, []byte(cm.Data["moat.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs)
	cfg, err := config.Load(fs, func(k string) string {
		if k == "MOAT_CONFIG" {
			return cfgFile
		}
		return ""
	})
	if err != nil {
		t.Fatalf("the ConfigMap's moat.yaml: %v", err)
	}

	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container in the Deployment")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if i := slices.Index(c.Args, "--config"); i < 0 || i+1 == len(c.Args) || !mounted(c, "config", c.Args[i+1]) {
		t.Errorf("the container must run serve --config on the mounted ConfigMap: args %v", c.Args)
	}
	if !mounted(c, "tls", cfg.TLSCert) || !mounted(c, "tls", cfg.TLSKey) || !mounted(c, "data", cfg.DataDir) {
		t.Errorf("tlsCert %s, tlsKey %s and dataDir %s must be on the tls and data volumes", cfg.TLSCert, cfg.TLSKey, cfg.DataDir)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	_, listenPort, _ := net.SplitHostPort(cfg.Listeners[0].Address)
	_, metricsPort, _ := net.SplitHostPort(cfg.MetricsAddress)
	if itoa(ports["registry"]) != listenPort || itoa(ports["metrics"]) != metricsPort {
		t.Errorf("container ports %v must match the listener %s and metrics %s", ports, cfg.Listeners[0].Address, cfg.MetricsAddress)
	}
	for name, p := range map[string]struct{ Path, Port, Scheme string }{"readiness": c.ReadinessProbe.HTTPGet, "liveness": c.LivenessProbe.HTTPGet} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
		if p.Path != want || p.Port != "registry" || (p.Scheme == "HTTPS") != (cfg.TLSCert != "") {
			t.Errorf("%s probe %+v: want %s on port registry, HTTPS when TLS is configured", name, p, want)
		}
	}
	for _, e := range c.Env {
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name == secret.Metadata.Name {
			if _, ok := secret.StringData[ref.Key]; !ok {
				t.Errorf("env %s reads key %q that secrets.example.yaml does not show", e.Name, ref.Key)
			}
		}
	}
	for _, svc := range byKind["Service"] {
		for _, p := range svc.Spec.Ports {
			if _, ok := ports[p.TargetPort]; !ok {
				t.Errorf("Service %s targets port %q that the container does not name", svc.Metadata.Name, p.TargetPort)
			}
		}
	}
}

// mounted reports whether path lies on the container's mount of volume.
func mounted(c container, volume, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == volume && (path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "" // not declared
	}
	return strconv.Itoa(n)
}
