package io.trainq.api;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn.Type;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** A batch of training tasks run on a pool of GPU workers through a RabbitMQ quorum queue. */
@Group(TrainingJob.GROUP)
@Version(TrainingJob.VERSION)
@Kind(TrainingJob.KIND)
@Plural(TrainingJob.PLURAL)
@Singular("trainingjob")
@ShortNames("tj")
@Categories("trainq")
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = Type.STRING)
@AdditionalPrinterColumn(name = "Done", jsonPath = ".status.progress", type = Type.STRING)
@AdditionalPrinterColumn(name = "Failed", jsonPath = ".status.counts.deadLettered", type = Type.INTEGER)
@AdditionalPrinterColumn(name = "Running", jsonPath = ".status.counts.running", type = Type.INTEGER)
@AdditionalPrinterColumn(name = "Workers", jsonPath = ".status.workers", type = Type.STRING)
@AdditionalPrinterColumn(name = "Util", jsonPath = ".status.gpuUtilization", type = Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = Type.DATE)
public class TrainingJob extends CustomResource<TrainingJobSpec, TrainingJobStatus> implements Namespaced {
  public static final String GROUP = "trainq.io";
  public static final String VERSION = "v1alpha1";
  public static final String KIND = "TrainingJob";
  public static final String PLURAL = "trainingjobs";
  public static final String API_VERSION = GROUP + "/" + VERSION;
  public static final String CRD_NAME = PLURAL + "." + GROUP;

  /** Setting this annotation (any value) re-queues the job's dead letters once; the operator removes it. */
  public static final String REQUEUE_DEAD_LETTERS_ANNOTATION = GROUP + "/requeue-dead-letters";

  @Override
  protected TrainingJobStatus initStatus() {
    return new TrainingJobStatus();
  }
}
