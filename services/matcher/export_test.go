package matcher

import "github.com/segmentio/kafka-go"

// WriterCompression is the codec of the matcher's producer (HERALD_KAFKA_COMPRESSION), for tests.
func WriterCompression(s *Service) kafka.Compression { return s.writer.Compression }
