"""Keystone's EC2 credentials (OS-EC2) and the calls services make with AWS-signed requests
(``/v3/ec2tokens``, ``/v3/s3tokens``)."""
