"""engine = "spark" reads Kafka with the Java client: the same [stream.kafka] settings, translated."""

import pytest

from almacen.config import ConfigError, KafkaSettings
from almacen.sources.kafka import java_client_config


def test_a_confluent_cloud_connection_becomes_a_jaas_login_and_a_pem_truststore(monkeypatch):
    monkeypatch.setenv("KAFKA_SECRET", 'se"cret')
    kafka = KafkaSettings(
        bootstrap_servers="pkc-1.sa-east-1.aws.confluent.cloud:9092",
        password_env="KAFKA_SECRET",
        options={
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "ABCKEY",
            "ssl.ca.location": "/etc/ssl/certs/ca.pem",
        },
    )
    assert java_client_config(kafka) == {
        "bootstrap.servers": "pkc-1.sa-east-1.aws.confluent.cloud:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/ssl/certs/ca.pem",
        "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="ABCKEY" password="se\\"cret";',
    }


def test_scram_uses_the_scram_login_module(monkeypatch):
    monkeypatch.setenv("MSK_PASSWORD", "pw")
    kafka = KafkaSettings(
        password_env="MSK_PASSWORD",
        options={"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "almacen"},
    )
    assert java_client_config(kafka)["sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="almacen" password="pw";'
    )


def test_a_librdkafka_only_setting_is_refused_by_name():
    with pytest.raises(
        ConfigError, match="stream.kafka.options: enable.ssl.certificate.verification has no equivalent"
    ):
        java_client_config(KafkaSettings(options={"enable.ssl.certificate.verification": False}))


def test_a_username_without_its_password_is_named():
    with pytest.raises(ConfigError, match="sasl.username is set but not password_env"):
        java_client_config(KafkaSettings(options={"sasl.mechanism": "PLAIN", "sasl.username": "u"}))
