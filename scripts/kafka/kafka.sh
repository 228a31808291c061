# Apache Kafka 3.9 (KRaft, one node: broker and controller) on 127.0.0.1:9092, sourced by scripts/services.
# Jars come once from Maven Central (scripts/kafka/pom.xml) into .jars/kafka; data in .services/kafka.
# Tests restart the broker with `scripts/services kafka-restart` (a broker restart mid-stream).

kafka_port=9092
kafka_jars="$root/.jars/kafka"
kafka_dir="$state/kafka"

kafka_fetch() {
  [ -f "$kafka_jars/kafka_2.13-3.9.1.jar" ] && return
  command -v mvn >/dev/null || { echo "kafka: Maven (mvn) is needed once to fetch the broker's jars" >&2; exit 1; }
  echo "kafka: fetching the broker's jars from Maven Central into $kafka_jars"
  mvn -q -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$kafka_jars" -DincludeScope=runtime >/dev/null
}

kafka_java() { java -Xms128m -Xmx768m -XX:+UseSerialGC -cp "$kafka_jars/*" -Dlog4j.configuration="file:$kafka_dir/log4j.properties" "$@"; }

kafka_answering() { (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; }

kafka_configure() {
  mkdir -p "$kafka_dir/data" "$kafka_dir/log"
  cat >"$kafka_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$kafka_dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
PROPS
  cat >"$kafka_dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$kafka_dir/log/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  if [ ! -f "$kafka_dir/data/meta.properties" ]; then
    [ -f "$kafka_dir/cluster-id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$kafka_dir/cluster-id"
    kafka_java kafka.tools.StorageTool format -t "$(cat "$kafka_dir/cluster-id")" -c "$kafka_dir/server.properties" \
      >"$kafka_dir/log/format.log" 2>&1 || { echo "kafka: formatting storage failed, see $kafka_dir/log/format.log" >&2; exit 1; }
  fi
}

kafka_up() {
  if kafka_answering; then echo "kafka: already running on 127.0.0.1:$kafka_port"; return; fi
  kafka_fetch
  kafka_configure
  : >"$kafka_dir/log/server.log"
  nohup setsid java -Xms128m -Xmx768m -XX:+UseSerialGC -cp "$kafka_jars/*" \
    -Dlog4j.configuration="file:$kafka_dir/log4j.properties" kafka.Kafka "$kafka_dir/server.properties" \
    >"$kafka_dir/log/stdout.log" 2>&1 &
  echo $! >"$kafka_dir/kafka.pid"
  for _ in $(seq 1 120); do
    grep -q "Kafka Server started" "$kafka_dir/log/server.log" 2>/dev/null && kafka_answering && break
    kill -0 "$(cat "$kafka_dir/kafka.pid")" 2>/dev/null || break
    sleep 0.5
  done
  kafka_answering || { echo "kafka: failed to start, see $kafka_dir/log/server.log" >&2; exit 1; }
  echo "kafka: running on 127.0.0.1:$kafka_port"
}

kafka_down() {
  [ -f "$kafka_dir/kafka.pid" ] || return 0
  local pid; pid=$(cat "$kafka_dir/kafka.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    echo "kafka: stopped"
  fi
  rm -f "$kafka_dir/kafka.pid"
}

kafka_status() { kafka_answering && echo "kafka: running on 127.0.0.1:$kafka_port" || echo "kafka: stopped"; }
