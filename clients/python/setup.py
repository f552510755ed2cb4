"""Generates solar_client/_gen (kv_pb2.py) from proto/kv.proto before
setuptools collects the packages; the metadata is in pyproject.toml."""
import pathlib
import subprocess

from setuptools import setup

subprocess.run(["sh", str(pathlib.Path(__file__).resolve().parent / "build.sh")], check=True)
setup()
