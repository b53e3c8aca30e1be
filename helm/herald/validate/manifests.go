package main

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Options tune a check.
type Options struct {
	// Known lists the variables each service reads; nil skips that check.
	Known KnownVars
	// ExternalSecrets are Secrets the release expects to exist (secrets.existingSecret).
	ExternalSecrets []string
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor CRD the chart uses.
// It is decoded strictly, so a field the chart starts to use must be added here.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string              `json:"port,omitempty"`
			TargetPort    *intstr.IntOrString `json:"targetPort,omitempty"`
			Path          string              `json:"path,omitempty"`
			Scheme        string              `json:"scheme,omitempty"`
			Interval      string              `json:"interval,omitempty"`
			ScrapeTimeout string              `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool                `json:"honorLabels,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// The pattern of monitoring.coreos.com/v1 Duration.
var promDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

type rendered struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	jobs            []*batchv1.Job
	ingresses       []*networkingv1.Ingress
	monitors        []*serviceMonitor
	kinds           map[string]int
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
		batchv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// decode reads a multi-document YAML stream strictly into typed objects.
func decode(in io.Reader, r *Report) *rendered {
	data, err := io.ReadAll(in)
	if err != nil {
		r.errorf("reading manifests: %v", err)
		return nil
	}
	out := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, kinds: map[string]int{},
	}
	deserializer := serializer.NewCodecFactory(newScheme(), serializer.EnableStrict).UniversalDeserializer()
	seen := map[string]string{}
	for i, doc := range docSeparator.Split(string(data), -1) {
		where := fmt.Sprintf("document %d", i)
		if src := regexp.MustCompile(`(?m)^# Source: (.*)$`).FindStringSubmatch(doc); src != nil {
			where = src[1]
		}
		if isEmptyYAML(doc) {
			continue
		}
		var head struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			r.errorf("%s: not YAML: %v", where, err)
			continue
		}
		tm := head.TypeMeta
		where += ": " + tm.Kind + "/" + head.Metadata.Name
		var obj any
		if tm.Kind == "ServiceMonitor" && tm.APIVersion == "monitoring.coreos.com/v1" {
			sm, err := decodeServiceMonitor([]byte(doc))
			if err != nil {
				r.errorf("%s: %v", where, err)
				continue
			}
			obj = sm
		} else {
			o, _, err := deserializer.Decode([]byte(doc), nil, nil)
			switch {
			case runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) || runtime.IsMissingVersion(err):
				r.errorf("%s: %s %q is not a kind this validator knows (add its k8s.io/api type): %v", where, tm.APIVersion, tm.Kind, err)
				continue
			case err != nil:
				r.errorf("%s: %v", where, err)
				continue
			}
			obj = o
		}
		meta := obj.(metav1.Object)
		key := tm.Kind + "/" + meta.GetName()
		if prev, dup := seen[key]; dup {
			r.errorf("%s: %s is rendered twice (also in %s)", where, key, prev)
		}
		seen[key] = where
		out.kinds[tm.Kind]++
		checkMeta(r, key, meta)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			out.deployments[o.Name] = o
		case *corev1.Service:
			out.services[o.Name] = o
		case *corev1.ConfigMap:
			out.configMaps[o.Name] = o
		case *corev1.Secret:
			out.secrets[o.Name] = o
		case *corev1.ServiceAccount:
			out.serviceAccounts[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			out.pdbs = append(out.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			out.hpas = append(out.hpas, o)
		case *batchv1.Job:
			out.jobs = append(out.jobs, o)
		case *networkingv1.Ingress:
			out.ingresses = append(out.ingresses, o)
		case *serviceMonitor:
			out.monitors = append(out.monitors, o)
		default:
			r.errorf("%s: %s is decoded but not checked: add a case for it", where, key)
		}
	}
	return out
}

func isEmptyYAML(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

func decodeServiceMonitor(doc []byte) (*serviceMonitor, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var sm serviceMonitor
	strictErrs, err := sigsjson.UnmarshalStrict(j, &sm)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return &sm, nil
}

// checkMeta checks what the API server would refuse in metadata.
func checkMeta(r *Report, key string, m metav1.Object) {
	for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
		r.errorf("%s: name: %s", key, msg)
	}
	for k, v := range m.GetLabels() {
		for _, msg := range validation.IsQualifiedName(k) {
			r.errorf("%s: label key %q: %s", key, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			r.errorf("%s: label %s=%q: %s", key, k, v, msg)
		}
	}
}

// CheckManifests decodes the rendered chart and checks it.
func CheckManifests(in io.Reader, opt Options) *Report {
	r := &Report{}
	m := decode(in, r)
	if m == nil {
		return r
	}
	envs := map[string]map[string]envVar{}
	for _, c := range Components {
		found := 0
		for _, d := range m.deployments {
			if d.Labels["app.kubernetes.io/component"] == c {
				found++
			}
		}
		if found != 1 {
			r.errorf("want one Deployment labelled app.kubernetes.io/component=%s, found %d", c, found)
		}
	}
	for _, name := range sortedKeys(m.deployments) {
		d := m.deployments[name]
		key := "Deployment/" + name
		component := d.Labels["app.kubernetes.io/component"]
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			r.errorf("%s: spec.selector does not select its own pod template (%v)", key, err)
		}
		checkPodSpec(r, key, &d.Spec.Template.Spec, m, opt, true)
		if d.Spec.Template.Spec.ServiceAccountName != "" && m.serviceAccounts[d.Spec.Template.Spec.ServiceAccountName] == nil {
			r.errorf("%s: serviceAccountName %q is not rendered", key, d.Spec.Template.Spec.ServiceAccountName)
		}
		if len(d.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		ctr := &d.Spec.Template.Spec.Containers[0]
		env := containerEnv(r, key, ctr, m)
		if contains(Components, component) {
			envs[component] = env
			errs, notes := checkServiceEnv(key, component, env, opt.Known, true)
			r.Errors = append(r.Errors, errs...)
			r.Notes = append(r.Notes, notes...)
			checkAddrs(r, key, component, ctr, env, m)
		}
	}
	r.Errors = append(r.Errors, checkAgreement("the three Deployments", envs)...)
	for _, j := range m.jobs {
		checkPodSpec(r, "Job/"+j.Name, &j.Spec.Template.Spec, m, opt, false)
		if p := j.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			r.errorf("Job/%s: restartPolicy must be Never or OnFailure, got %q", j.Name, p)
		}
	}
	for _, name := range sortedKeys(m.services) {
		checkService(r, m.services[name], m)
	}
	for _, p := range m.pdbs {
		key := "PodDisruptionBudget/" + p.Name
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			r.errorf("%s: set exactly one of minAvailable and maxUnavailable", key)
		}
		if selectsDeployments(r, key, p.Spec.Selector, m) != 1 {
			r.errorf("%s: selector must match exactly one Deployment's pods", key)
		}
	}
	for _, h := range m.hpas {
		key := "HorizontalPodAutoscaler/" + h.Name
		ref := h.Spec.ScaleTargetRef
		d := m.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || d == nil {
			r.errorf("%s: scaleTargetRef %s %s/%s is not a rendered Deployment", key, ref.APIVersion, ref.Kind, ref.Name)
		} else if d.Spec.Replicas != nil {
			r.errorf("%s: Deployment/%s sets replicas too; the two would fight on every upgrade", key, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			r.errorf("%s: want 1 <= minReplicas <= maxReplicas", key)
		}
		if len(h.Spec.Metrics) == 0 {
			r.errorf("%s: no metrics", key)
		}
	}
	for _, ing := range m.ingresses {
		key := "Ingress/" + ing.Name
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				r.errorf("%s: rule without http paths", key)
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.PathType == nil {
					r.errorf("%s: path %q has no pathType", key, p.Path)
				}
				if p.Backend.Service == nil {
					r.errorf("%s: path %q has no service backend", key, p.Path)
					continue
				}
				checkServicePort(r, key, p.Backend.Service.Name, p.Backend.Service.Port.Name, p.Backend.Service.Port.Number, m)
			}
		}
	}
	for _, sm := range m.monitors {
		key := "ServiceMonitor/" + sm.Name
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			r.errorf("%s: bad or empty selector: %v", key, err)
			continue
		}
		var matched []*corev1.Service
		for _, s := range m.services {
			if sel.Matches(labels.Set(s.Labels)) {
				matched = append(matched, s)
			}
		}
		if len(matched) != 1 {
			r.errorf("%s: selector matches %d Services, want 1", key, len(matched))
		}
		if len(sm.Spec.Endpoints) == 0 {
			r.errorf("%s: no endpoints", key)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				r.errorf("%s: endpoint path %q, the services serve /metrics", key, ep.Path)
			}
			for _, d := range []string{ep.Interval, ep.ScrapeTimeout} {
				if d != "" && !promDuration.MatchString(d) {
					r.errorf("%s: %q is not a Prometheus duration", key, d)
				}
			}
			for _, s := range matched {
				checkServicePort(r, key, s.Name, ep.Port, 0, m)
			}
		}
	}
	var kinds []string
	for k, n := range m.kinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	r.Summary = strings.Join(kinds, ", ")
	return r
}

// checkPodSpec checks every container: non-root, read-only root filesystem, no privilege
// escalation, resources, and for a long-running service the /healthz and /readyz probes.
func checkPodSpec(r *Report, key string, spec *corev1.PodSpec, m *rendered, opt Options, service bool) {
	podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
	if spec.SecurityContext != nil && spec.SecurityContext.RunAsUser != nil && *spec.SecurityContext.RunAsUser == 0 {
		r.errorf("%s: pod runAsUser is 0 (root)", key)
	}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	if len(spec.Containers) == 0 {
		r.errorf("%s: no containers", key)
	}
	for i := range all {
		c := &all[i]
		ck := fmt.Sprintf("%s: container %s", key, c.Name)
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			r.errorf("%s: name: %s", ck, msg)
		}
		if c.Image == "" {
			r.errorf("%s: no image", ck)
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			r.errorf("%s: no securityContext", ck)
		default:
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				r.errorf("%s: securityContext.readOnlyRootFilesystem must be true", ck)
			}
			if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				r.errorf("%s: runAsNonRoot must be true (container or pod)", ck)
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				r.errorf("%s: runAsNonRoot is false", ck)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				r.errorf("%s: runAsUser is 0 (root)", ck)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				r.errorf("%s: securityContext.allowPrivilegeEscalation must be false", ck)
			}
			if sc.Privileged != nil && *sc.Privileged {
				r.errorf("%s: privileged", ck)
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				r.errorf("%s: resources.requests.%s is not set", ck, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			r.errorf("%s: resources.limits.memory is not set", ck)
		}
		for res, lim := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[res]; ok && req.Cmp(lim) > 0 {
				r.errorf("%s: resources.requests.%s (%s) is above its limit (%s)", ck, res, req.String(), lim.String())
			}
		}
		for _, p := range c.Ports {
			if p.Name != "" {
				for _, msg := range validation.IsValidPortName(p.Name) {
					r.errorf("%s: port name %q: %s", ck, p.Name, msg)
				}
			}
		}
		for _, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				r.errorf("%s: env %q: %s", ck, e.Name, msg)
			}
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
				checkSecretRef(r, ck, e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key, ref.SecretKeyRef.Optional, m, opt)
			}
			if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
				cm := m.configMaps[ref.ConfigMapKeyRef.Name]
				if cm == nil {
					r.errorf("%s: env %s: ConfigMap %q is not rendered", ck, e.Name, ref.ConfigMapKeyRef.Name)
				} else if _, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
					r.errorf("%s: env %s: ConfigMap %q has no key %q", ck, e.Name, cm.Name, ref.ConfigMapKeyRef.Key)
				}
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && m.configMaps[ef.ConfigMapRef.Name] == nil {
				r.errorf("%s: envFrom ConfigMap %q is not rendered", ck, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && m.secrets[ef.SecretRef.Name] == nil && !contains(opt.ExternalSecrets, ef.SecretRef.Name) {
				r.errorf("%s: envFrom Secret %q is neither rendered nor declared external", ck, ef.SecretRef.Name)
			}
		}
		for _, vm := range c.VolumeMounts {
			found := false
			for _, v := range spec.Volumes {
				found = found || v.Name == vm.Name
			}
			if !found {
				r.errorf("%s: volumeMount %q has no volume", ck, vm.Name)
			}
		}
		if !service {
			continue
		}
		checkProbe(r, ck, "livenessProbe", c.LivenessProbe, "/healthz", c)
		checkProbe(r, ck, "readinessProbe", c.ReadinessProbe, "/readyz", c)
		if c.StartupProbe != nil {
			checkProbe(r, ck, "startupProbe", c.StartupProbe, "/healthz", c)
		}
	}
}

func checkProbe(r *Report, ck, name string, p *corev1.Probe, path string, c *corev1.Container) {
	if p == nil || p.HTTPGet == nil {
		r.errorf("%s: %s must be an httpGet on %s", ck, name, path)
		return
	}
	if p.HTTPGet.Path != path {
		r.errorf("%s: %s path is %q, want %s", ck, name, p.HTTPGet.Path, path)
	}
	if containerPort(c, p.HTTPGet.Port) == nil {
		r.errorf("%s: %s port %s is not a port of the container", ck, name, p.HTTPGet.Port.String())
	}
}

func containerPort(c *corev1.Container, port intstr.IntOrString) *corev1.ContainerPort {
	for i, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return &c.Ports[i]
		}
	}
	return nil
}

func checkSecretRef(r *Report, ck, envName, secret, key string, optional *bool, m *rendered, opt Options) {
	if s := m.secrets[secret]; s != nil {
		_, inData := s.Data[key]
		_, inString := s.StringData[key]
		if !inData && !inString && (optional == nil || !*optional) {
			r.errorf("%s: env %s: Secret %q has no key %q", ck, envName, secret, key)
		}
		return
	}
	if !contains(opt.ExternalSecrets, secret) {
		r.errorf("%s: env %s: Secret %q is neither rendered nor declared external", ck, envName, secret)
	}
}

// containerEnv resolves a container's environment: env entries over envFrom ConfigMaps.
func containerEnv(r *Report, key string, c *corev1.Container, m *rendered) map[string]envVar {
	env := map[string]envVar{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		if cm := m.configMaps[ef.ConfigMapRef.Name]; cm != nil {
			for k, v := range cm.Data {
				for _, msg := range validation.IsConfigMapKey(k) {
					r.errorf("ConfigMap/%s: key %q: %s", cm.Name, k, msg)
				}
				env[ef.Prefix+k] = envVar{Value: v, From: "ConfigMap " + cm.Name}
			}
		}
	}
	for _, e := range c.Env {
		v := envVar{Value: e.Value, From: "a plain value"}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			v = envVar{Secret: e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key, From: "Secret"}
		} else if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			v.From = "ConfigMap " + e.ValueFrom.ConfigMapKeyRef.Name
			if cm := m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]; cm != nil {
				v.Value = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
			}
		}
		if _, dup := env[e.Name]; dup && e.ValueFrom == nil {
			r.errorf("%s: %s is set both in env and envFrom", key, e.Name)
		}
		env[e.Name] = v
	}
	return env
}

// checkAddrs checks that the listen addresses match the declared ports and that the matcher and
// dispatcher reach the registry's gRPC port through its Service.
func checkAddrs(r *Report, key, component string, c *corev1.Container, env map[string]envVar, m *rendered) {
	for v, port := range map[string]string{"HERALD_HTTP_ADDR": "http", "HERALD_GRPC_ADDR": "grpc"} {
		e, ok := env[v]
		if !ok {
			continue
		}
		n, err := listenPort(e.Value)
		if err != nil {
			r.errorf("%s: %s=%q: %v", key, v, e.Value, err)
			continue
		}
		cp := containerPort(c, intstr.FromString(port))
		if cp == nil || int(cp.ContainerPort) != n {
			r.errorf("%s: %s=%q does not match the container port named %s", key, v, e.Value, port)
		}
	}
	if e, ok := env["HERALD_REGISTRY_ADDR"]; ok {
		host, port, found := strings.Cut(e.Value, ":")
		s := m.services[host]
		if !found || s == nil || s.Labels["app.kubernetes.io/component"] != "registry" {
			r.errorf("%s: HERALD_REGISTRY_ADDR=%q is not <registry Service>:<port>", key, e.Value)
			return
		}
		ok := false
		for _, p := range s.Spec.Ports {
			ok = ok || (fmt.Sprint(p.Port) == port && p.Name == "grpc")
		}
		if !ok {
			r.errorf("%s: HERALD_REGISTRY_ADDR=%q: Service %s has no grpc port %s", key, e.Value, s.Name, port)
		}
	}
	if e, ok := env["HERALD_KAFKA_BROKERS"]; ok && strings.TrimSpace(e.Value) == "" {
		r.errorf("%s: HERALD_KAFKA_BROKERS is empty", key)
	}
}

func checkService(r *Report, s *corev1.Service, m *rendered) {
	key := "Service/" + s.Name
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		r.errorf("%s: name: %s", key, msg)
	}
	if len(s.Spec.Selector) == 0 {
		r.errorf("%s: no selector", key)
		return
	}
	var targets []*appsv1.Deployment
	for _, d := range m.deployments {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			targets = append(targets, d)
		}
	}
	if len(targets) != 1 {
		r.errorf("%s: selector matches %d Deployments, want 1", key, len(targets))
		return
	}
	for _, p := range s.Spec.Ports {
		found := false
		for i := range targets[0].Spec.Template.Spec.Containers {
			found = found || containerPort(&targets[0].Spec.Template.Spec.Containers[i], p.TargetPort) != nil
		}
		if !found {
			r.errorf("%s: port %s targets %s, which Deployment/%s does not declare", key, p.Name, p.TargetPort.String(), targets[0].Name)
		}
	}
}

func checkServicePort(r *Report, key, service, portName string, portNumber int32, m *rendered) {
	s := m.services[service]
	if s == nil {
		r.errorf("%s: Service %q is not rendered", key, service)
		return
	}
	for _, p := range s.Spec.Ports {
		if (portName != "" && p.Name == portName) || (portName == "" && p.Port == portNumber) {
			return
		}
	}
	r.errorf("%s: Service %s has no port %q/%d", key, service, portName, portNumber)
}

func selectsDeployments(r *Report, key string, ls *metav1.LabelSelector, m *rendered) int {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || sel.Empty() {
		r.errorf("%s: bad or empty selector: %v", key, err)
		return 0
	}
	n := 0
	for _, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
