"""Decodes armhil's protobuf joint samples with Google's protobuf library, from the
schema stored in the recording (a FileDescriptorSet), as Foxglove does.

usage: decode_protobuf.py SCHEMA_FILE MESSAGE_FILE...   (prints one JSON line each)
"""
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("armhil.JointSample"))
for path in sys.argv[2:]:
    m = cls()
    m.ParseFromString(open(path, "rb").read())
    print(json.dumps(json_format.MessageToDict(m, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)))
