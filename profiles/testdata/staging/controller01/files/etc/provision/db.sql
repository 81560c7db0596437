-- Databases and users of the OpenStack services, run on controller01 once
-- Galera is up (idempotent: IF NOT EXISTS and GRANT ... IDENTIFIED BY).
CREATE DATABASE IF NOT EXISTS keystone;
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'localhost' IDENTIFIED BY 'test-db-keystone';
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'10.3.2.0/255.255.255.0' IDENTIFIED BY 'test-db-keystone';
CREATE DATABASE IF NOT EXISTS glance;
GRANT ALL PRIVILEGES ON glance.* TO 'glance'@'localhost' IDENTIFIED BY 'test-db-glance';
GRANT ALL PRIVILEGES ON glance.* TO 'glance'@'10.3.2.0/255.255.255.0' IDENTIFIED BY 'test-db-glance';
CREATE DATABASE IF NOT EXISTS nova;
GRANT ALL PRIVILEGES ON nova.* TO 'nova'@'localhost' IDENTIFIED BY 'test-db-nova';
GRANT ALL PRIVILEGES ON nova.* TO 'nova'@'10.3.2.0/255.255.255.0' IDENTIFIED BY 'test-db-nova';
CREATE DATABASE IF NOT EXISTS cinder;
GRANT ALL PRIVILEGES ON cinder.* TO 'cinder'@'localhost' IDENTIFIED BY 'test-db-cinder';
GRANT ALL PRIVILEGES ON cinder.* TO 'cinder'@'10.3.2.0/255.255.255.0' IDENTIFIED BY 'test-db-cinder';
CREATE DATABASE IF NOT EXISTS neutron;
GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'localhost' IDENTIFIED BY 'test-db-neutron';
GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'10.3.2.0/255.255.255.0' IDENTIFIED BY 'test-db-neutron';
-- HAProxy's mysql-check logs in without a password and runs nothing.
GRANT USAGE ON *.* TO 'haproxy_check'@'10.3.2.0/255.255.255.0';
DELETE FROM mysql.user WHERE User = '';
FLUSH PRIVILEGES;
