#!/bin/sh
echo "api $(cat /etc/shop/runtime)"
