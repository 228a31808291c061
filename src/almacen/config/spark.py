"""Settings of the Spark engine (`engine = "spark"`): where Spark runs and which jars it is given."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SparkSettings(BaseModel):
    """`[spark]` in almacen.toml: the master, the connector jars folder and any extra Spark conf."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str = Field(
        default="local[2]", description="local[N], spark://host:7077, yarn, k8s://... (ignored under spark-submit)"
    )
    jars: str = Field(
        default=".jars/spark",
        description="folder of connector jars (scripts/spark/jars fills it); empty when the cluster provides them",
    )
    conf: dict[str, str] = Field(default_factory=dict, description="any Spark setting, passed through as it is")
    jdbc_partitions: int = Field(
        default=2, ge=1, description="numPartitions of a JDBC read of one branch's range of hours"
    )
    checkpoints: str = Field(
        default="", description="Structured Streaming checkpoint root; default <lake>/_system/spark_checkpoints"
    )
