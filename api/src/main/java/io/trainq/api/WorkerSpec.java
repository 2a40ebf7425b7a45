package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "!has(self.resources) || ((!has(self.resources.limits) || !('nvidia.com/gpu' in self.resources.limits)) && (!has(self.resources.requests) || !('nvidia.com/gpu' in self.resources.requests)))",
    message = "spec.workers.resources must not set nvidia.com/gpu: it comes from spec.workers.gpusPerPod",
    fieldPath = ".resources",
    reason = "FieldValueForbidden")
public class WorkerSpec {

  @Default("1")
  @Min(1)
  @Max(1000)
  @JsonPropertyDescription("Most worker pods running at once. Fewer run when fewer tasks remain.")
  private Integer maxPods;

  @Min(1)
  @Max(64)
  @JsonPropertyDescription("GPUs (nvidia.com/gpu) each worker pod requests; a multiple of gpusPerTask. The pod runs gpusPerPod / gpusPerTask tasks at once. Defaults to gpusPerTask.")
  private Integer gpusPerPod;

  @JsonPropertyDescription("Node selector of the worker pods, e.g. {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}.")
  private Map<String, String> nodeSelector;

  @JsonPropertyDescription("Tolerations of the worker pods, e.g. for tainted GPU nodes.")
  private List<Toleration> tolerations;

  @JsonPropertyDescription("CPU and memory of the worker container. nvidia.com/gpu is set from gpusPerPod and must not be given here.")
  private ResourceRequirements resources;

  @JsonPropertyDescription("Environment variables of the worker container; tasks inherit them.")
  private List<EnvVar> env;

  @Default("IfNotPresent")
  @Pattern("^(Always|IfNotPresent|Never)$")
  @JsonPropertyDescription("Image pull policy of the training image.")
  private String imagePullPolicy;

  @JsonPropertyDescription("Priority class of the worker pods.")
  private String priorityClassName;

  @JsonPropertyDescription("Service account of the worker pods.")
  private String serviceAccountName;

  @JsonPropertyDescription("Runs the worker pods in their node's network namespace (dnsPolicy ClusterFirstWithHostNet), for clusters whose only pod network is the node's own, such as a single-node test cluster with a loopback-only CNI. The worker's metrics port (8080) is then taken on the node: at most one worker pod per node, and nothing else of the node on that port.")
  private Boolean hostNetwork;

  @Default("60s")
  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("A worker with no running task and nothing ready in the queue for this long exits 0, freeing its GPUs.")
  private String idleTimeout;

  @Default("0")
  @Min(0)
  @Max(64)
  @JsonPropertyDescription("Deliveries a worker may hold beyond its slots. 0 (the default) keeps every queued task available to any idle GPU; more hides dispatch latency for very short tasks at the cost of tasks waiting behind a busy worker.")
  private Integer extraPrefetch;

  /** GPUs per pod: {@code gpusPerPod}, or one task's worth when unset (no schema default can say that). */
  public int gpusPerPod(int gpusPerTask) {
    return gpusPerPod == null ? gpusPerTask : gpusPerPod;
  }

  public Integer getMaxPods() {
    return maxPods;
  }

  public void setMaxPods(Integer maxPods) {
    this.maxPods = maxPods;
  }

  public Integer getGpusPerPod() {
    return gpusPerPod;
  }

  public void setGpusPerPod(Integer gpusPerPod) {
    this.gpusPerPod = gpusPerPod;
  }

  public Map<String, String> getNodeSelector() {
    return nodeSelector;
  }

  public void setNodeSelector(Map<String, String> nodeSelector) {
    this.nodeSelector = nodeSelector;
  }

  public List<Toleration> getTolerations() {
    return tolerations;
  }

  public void setTolerations(List<Toleration> tolerations) {
    this.tolerations = tolerations;
  }

  public ResourceRequirements getResources() {
    return resources;
  }

  public void setResources(ResourceRequirements resources) {
    this.resources = resources;
  }

  public List<EnvVar> getEnv() {
    return env;
  }

  public void setEnv(List<EnvVar> env) {
    this.env = env;
  }

  public String getImagePullPolicy() {
    return imagePullPolicy;
  }

  public void setImagePullPolicy(String imagePullPolicy) {
    this.imagePullPolicy = imagePullPolicy;
  }

  public String getPriorityClassName() {
    return priorityClassName;
  }

  public void setPriorityClassName(String priorityClassName) {
    this.priorityClassName = priorityClassName;
  }

  public String getServiceAccountName() {
    return serviceAccountName;
  }

  public void setServiceAccountName(String serviceAccountName) {
    this.serviceAccountName = serviceAccountName;
  }

  public Boolean getHostNetwork() {
    return hostNetwork;
  }

  public void setHostNetwork(Boolean hostNetwork) {
    this.hostNetwork = hostNetwork;
  }

  public String getIdleTimeout() {
    return idleTimeout;
  }

  public void setIdleTimeout(String idleTimeout) {
    this.idleTimeout = idleTimeout;
  }

  public Integer getExtraPrefetch() {
    return extraPrefetch;
  }

  public void setExtraPrefetch(Integer extraPrefetch) {
    this.extraPrefetch = extraPrefetch;
  }

}
